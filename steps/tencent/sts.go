package tencent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"meetpipe/runner/atomicfile"
)

// STSFile is the name of the file under state_dir that keeps the STS token. Apps created from 2026-01-16
// send it as the `STS-Token` header on data-sensitive calls (/v1/addresses/{id}, /v1/records/transcripts/*;
// 1095/127651). Tencent delivers it as the `common.sts-token` webhook event, so `runner serve` writes it
// and `runner run` reads it.
const STSFile = "tencent-sts-token.json"

// STSToken is one token with its expiry. String hides the token: it is a credential.
type STSToken struct {
	Token    string    `json:"token"`
	ExpireAt time.Time `json:"expire_at"`
}

func (t STSToken) String() string {
	return fmt.Sprintf("sts-token(expires %s)", t.ExpireAt.Format(time.RFC3339))
}

// Valid reports whether t can still be sent at now, with a minute's margin for the request in flight.
func (t STSToken) Valid(now time.Time) bool {
	return t.Token != "" && now.Add(time.Minute).Before(t.ExpireAt)
}

// STSStore keeps the token that expires last in one file, written atomically with mode 0600.
type STSStore struct{ Path string }

// NewSTSStore returns the store under stateDir.
func NewSTSStore(stateDir string) STSStore { return STSStore{Path: filepath.Join(stateDir, STSFile)} }

// Load returns the stored token and whether it is valid at now. A missing file is no token, not an error.
func (s STSStore) Load(now time.Time) (STSToken, bool, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return STSToken{}, false, nil
	}
	if err != nil {
		return STSToken{}, false, fmt.Errorf("sts token: %w", err)
	}
	var t STSToken
	if err := json.Unmarshal(b, &t); err != nil {
		return STSToken{}, false, fmt.Errorf("sts token %s: not valid JSON", s.Path)
	}
	return t, t.Valid(now), nil
}

// Save stores t unless the stored token expires later (events may arrive out of order).
func (s STSStore) Save(t STSToken) error {
	if t.Token == "" {
		return errors.New("sts token: empty token")
	}
	if old, _, err := s.Load(time.Time{}); err == nil && old.Token != "" && old.ExpireAt.After(t.ExpireAt) {
		return nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("sts token: %w", err)
	}
	if err := atomicfile.Write(s.Path, b); err != nil {
		return fmt.Errorf("sts token: %w", err)
	}
	return nil
}
