// Package webhook verifies, decrypts and parses Tencent Meeting's event pushes (企业自建应用 事件订阅).
// No official SDK has webhook code (tencent-meeting-api.md §10.0), so this follows the doc pages: signature
// 1095/51612, encryption 1095/54658, URL verification 1095/51608, and the event pages 1095/53230
// (recording.completed), 1095/121282 (smart.transcripts) and 1095/127651 (common.sts-token).
// It knows nothing of the engine or of HTTP servers.
package webhook

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Signature is lowercase hex(sha1(concat(sort(token, timestamp, nonce, data)))) (1095/51612). The sort is
// plain byte order, which sort.Strings is (a culture-aware sort breaks it: tencent-meeting-api.md §10.1.3).
// For a GET, data is check_str; for a POST, the body's "data" exactly as sent.
func Signature(token, timestamp, nonce, data string) string {
	parts := []string{token, timestamp, nonce, data}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether sig is the signature of the other values, in constant time.
func Verify(token, timestamp, nonce, data, sig string) bool {
	want := Signature(token, timestamp, nonce, data)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(strings.TrimSpace(sig)))) == 1
}

// Cipher is the AES-256-CBC of 1095/54658: key = base64decode(EncodingAESKey + "="), IV = key[:16],
// PKCS#7 padding. A nil *Cipher means no EncodingAESKey is configured: data is plain base64.
type Cipher struct {
	block cipher.Block
	iv    []byte
}

// NewCipher makes the cipher of an EncodingAESKey (43 characters in the console; 1095/51605). An empty
// key returns nil: pushes are then plain base64. The key never appears in an error.
func NewCipher(encodingAESKey string) (*Cipher, error) {
	k := strings.TrimSpace(encodingAESKey)
	if k == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(k + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("webhook: the EncodingAESKey must be the 43 characters the console shows (it is base64 of 32 bytes without its '=')")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook: aes: %w", err)
	}
	return &Cipher{block: block, iv: bytes.Clone(key[:aes.BlockSize])}, nil
}

// decodeBase64 accepts padded and unpadded standard base64: the official 1095/51612 example is
// unpadded (length mod 4 = 3). A '+' turned into ' ' by a query parser is put back.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, " ", "+"))
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("webhook: data is not base64")
	}
	return b, nil
}

// Open turns a pushed data (or check_str) into its plaintext: base64-decode, then, with a cipher,
// AES-decrypt and strip PKCS#7 (the official sample of 1095/54658 stops there).
func (c *Cipher) Open(data string) ([]byte, error) {
	raw, err := decodeBase64(data)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return raw, nil
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("webhook: ciphertext of %d bytes is not a whole number of AES blocks", len(raw))
	}
	out := make([]byte, len(raw))
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(out, raw)
	n := int(out[len(out)-1])
	if n < 1 || n > aes.BlockSize || n > len(out) || !bytes.Equal(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, errors.New("webhook: bad PKCS#7 padding (wrong EncodingAESKey?)")
	}
	return out[:len(out)-n], nil
}

// Seal is Open's inverse (padded base64 of AES-256-CBC with PKCS#7, or plain base64 without a cipher): the
// emulator's pushes and the tests use it.
func (c *Cipher) Seal(plain []byte) string {
	if c == nil {
		return base64.StdEncoding.EncodeToString(plain)
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// CheckReply is the answer to a URL verification GET: the plaintext of check_str, alone (1095/51608).
// The doc says "msg + $key" without defining $key; when the plaintext has the WeChat framing
// (random 16 + big-endian length 4 + msg + id; one community implementation) the msg is returned.
func CheckReply(plain []byte) []byte {
	if m, ok := framed(plain); ok {
		return m
	}
	return plain
}

// framed reads the WeChat layout random(16) + len(4, big-endian) + msg + suffix [COMMUNITY].
func framed(b []byte) ([]byte, bool) {
	if len(b) < 20 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(b[16:20])
	if n == 0 || uint64(n) > uint64(len(b)-20) {
		return nil, false
	}
	return b[20 : 20+n], true
}

// EventJSON finds the event JSON in a decrypted plaintext, defensively (tencent-meeting-api.md §10.1.3,
// [GUESS] covering both community readings of "msg + $key"): a plaintext starting with '{' is read as its
// first JSON value and trailing bytes are ignored; else the WeChat framing is tried; else it is refused.
func EventJSON(plain []byte) ([]byte, error) {
	p := bytes.TrimLeft(plain, " \t\r\n")
	if len(p) > 0 && p[0] == '{' {
		var raw json.RawMessage
		if err := json.NewDecoder(bytes.NewReader(p)).Decode(&raw); err != nil {
			return nil, fmt.Errorf("webhook: event is not JSON: %v", err)
		}
		return raw, nil
	}
	if m, ok := framed(plain); ok && len(m) > 0 && m[0] == '{' {
		return EventJSON(m)
	}
	return nil, errors.New("webhook: decrypted data is neither JSON nor a framed JSON message")
}

// NewSealedCheck makes a check_str as Tencent sends one (for the emulator and tests): random text, sealed.
func NewSealedCheck(c *Cipher) (plain, sealed string) {
	b := make([]byte, 12)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	plain = hex.EncodeToString(b)
	return plain, c.Seal([]byte(plain))
}
