package tencent

import "testing"

// The vectors are the worked examples of docs/tencent-meeting-api.md §1.4, byte for byte.
func TestSignatureDocExamples(t *testing.T) {
	const uri = "/v1/records?end_time=1702000000&operator_id=admin&operator_id_type=1&page=1&page_size=20&start_time=1700000000"
	tests := []struct {
		name, method, uri, body, toSign, want string
	}{
		{
			name: "GET empty body", method: "GET", uri: uri, body: "",
			toSign: "GET\nX-TC-Key=AKID_test&X-TC-Nonce=123456&X-TC-Timestamp=1700000000\n" + uri + "\n",
			want:   "MWRkYjkwM2M4MjA5MmM5N2JhNzRlOGZjNWU5YTM1NGU4YzE4YTYwNDI0ZjMyM2E1YTg2ZDI2OTI3NWM0MDA5Mg==",
		},
		{
			name: "GET null body as the official Go SDK sends it", method: "GET", uri: uri, body: "null",
			toSign: "GET\nX-TC-Key=AKID_test&X-TC-Nonce=123456&X-TC-Timestamp=1700000000\n" + uri + "\nnull",
			want:   "OGUxZTk1ODUzYzM3NjdkZmQ3M2Y3ODY0YmU2NWJhMjk0ZDQ3NzcwNzNjM2Q0ODNjOGU4ZDhkN2MzOWZlZDJhYQ==",
		},
		{
			name: "POST", method: "POST", uri: "/v1/meetings", body: `{"userid":"tester","instanceid":1}`,
			toSign: "POST\nX-TC-Key=AKID_test&X-TC-Nonce=123456&X-TC-Timestamp=1700000000\n/v1/meetings\n" +
				`{"userid":"tester","instanceid":1}`,
			want: "NTZmZGJiOGQ1NDc0NWRjYjYxYTg4ODU3MDVjYWFiODZmYTM1ZmJiZmVjNTgxZTM2YjVmODlkMDBmNDMwODRmZg==",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StringToSign(tt.method, "AKID_test", "123456", "1700000000", tt.uri, []byte(tt.body)); got != tt.toSign {
				t.Errorf("string to sign:\n got %q\nwant %q", got, tt.toSign)
			}
			got := Signature("SK_test", tt.method, "AKID_test", "123456", "1700000000", tt.uri, []byte(tt.body))
			if got != tt.want {
				t.Errorf("signature:\n got %s\nwant %s", got, tt.want)
			}
			if got == "HduQPIIJLJe6dOj8Xpo1TowYpgQk8yOlqG0mknXEAJI=" {
				t.Error("signature is base64 of the raw MAC, not of its hex")
			}
		})
	}
}
