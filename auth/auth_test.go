package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/auth"
)

func keysJSON(defaults string, entries ...string) string {
	out := `{"keys": [` + strings.Join(entries, ",") + `]`
	if defaults != "" {
		out += `, "defaults": ` + defaults
	}
	return out + `}`
}

func entry(name, key, extra string) string {
	return `{"name": "` + name + `", "sha256": "` + auth.HashKey(key) + `", "types": ["*"]` + extra + `}`
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     string
		want     auth.Quota
		parseErr string
	}{
		{"built-in default", keysJSON("", entry("a", "k", "")), auth.DefaultQuota(), ""},
		{"file defaults", keysJSON(`{"rate": 100, "inflight_share": 0.25}`, entry("a", "k", "")), auth.Quota{Rate: 100, InflightShare: 0.25}, ""},
		{"key over defaults", keysJSON(`{"rate": 100, "burst": 7}`, entry("a", "k", `, "rate": 5, "inflight_share": 1`)), auth.Quota{Rate: 5, Burst: 7, InflightShare: 1}, ""},
		{"share above 1", keysJSON("", entry("a", "k", `, "inflight_share": 1.5`)), auth.Quota{}, "inflight_share"},
		{"negative rate", keysJSON(`{"rate": -1}`, entry("a", "k", "")), auth.Quota{}, "rate"},
		{"misspelt field", keysJSON("", entry("a", "k", `, "rat": 5`)), auth.Quota{}, "rat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := auth.Parse([]byte(tt.file))
			if tt.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.parseErr) {
					t.Fatalf("Parse: %v, want an error about %s", err, tt.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := k.APIKey("k")
			if err != nil {
				t.Fatal(err)
			}
			if p.Quota != tt.want {
				t.Errorf("quota %+v, want %+v", p.Quota, tt.want)
			}
		})
	}
}

// A key removed from the file is refused within a reload period; a broken
// file keeps the keys loaded before.
func TestWatchReloadsTheKeysFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(keysJSON("", entry("a", "ka", ""), entry("b", "kb", "")))
	k, err := auth.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	const every = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- auth.Watch(t.Context(), file, k, every, nil) }()
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(50 * every)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, 50*every)
			}
			time.Sleep(every / 4)
		}
	}
	gen := k.Generation()
	write(keysJSON("", entry("b", "kb", "")))
	eventually("key a refused after its removal", func() bool {
		_, err := k.APIKey("ka")
		return errors.Is(err, auth.ErrUnauthenticated)
	})
	if k.Generation() == gen {
		t.Error("the generation did not change with the contents")
	}
	if _, err := k.APIKey("kb"); err != nil {
		t.Errorf("key b after the reload: %v", err)
	}
	write(`{"keys": [`) // broken: keep what was loaded
	time.Sleep(5 * every)
	if _, err := k.APIKey("kb"); err != nil {
		t.Errorf("key b after a broken file: %v", err)
	}
	write(keysJSON("", entry("a", "ka", "")))
	eventually("key a accepted again", func() bool { _, err := k.APIKey("ka"); return err == nil })
}
