package tencent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// StringToSign is the text a request's X-TC-Signature covers (§1.3): the upper-case method, the three
// signed headers in fixed order, the request URI exactly as sent (path and raw query) and the raw body
// ("" for a GET).
func StringToSign(method, secretID, nonce, timestamp, requestURI string, body []byte) string {
	return method + "\n" +
		"X-TC-Key=" + secretID + "&X-TC-Nonce=" + nonce + "&X-TC-Timestamp=" + timestamp + "\n" +
		requestURI + "\n" +
		string(body)
}

// Signature returns the X-TC-Signature value: base64 of the lower-case hex of HMAC-SHA256. Base64 is
// applied to the 64-character hex text, not to the raw MAC; getting that wrong is the classic cause of
// error 200003.
func Signature(secretKey, method, secretID, nonce, timestamp, requestURI string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte(StringToSign(method, secretID, nonce, timestamp, requestURI, body)))
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil))))
}
