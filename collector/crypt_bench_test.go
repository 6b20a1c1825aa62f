package collector

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/fieldcrypt"
)

// benchProfile is a member profile of four personal fields and two in
// clear; %s is each personal field's options.
const benchProfile = `syntax = "proto3";
package bench.v1;
import "hem/options/v1/options.proto";
message Profile {
  option (hem.options.v1.event) = {data_subject_field: "member_id"};
  string member_id = 1;
  string email = 2 %[1]s;
  string phone = 3 %[1]s;
  string full_name = 4 %[1]s;
  string street = 5 %[1]s;
  string city = 6;
  int64 points = 7;
}
`

func benchSchema(b *testing.B, personal string) *contract.Schema {
	b.Helper()
	src, err := contract.CompileSources(b.Context(), map[string]string{"bench/v1/profile.proto": strings.ReplaceAll(benchProfile, "%[1]s", personal)})
	if err != nil {
		b.Fatal(err)
	}
	s, err := src.Schema("bench.v1.Profile")
	if err != nil {
		b.Fatal(err)
	}
	return s.WithIdentity(9, 1, contract.Usable, time.Now())
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHotPathEncrypted is the per-event CPU cost of a profile whose
// four personal fields are encrypted with the member's key (AES-256-GCM,
// keys cached), against the same fields in clear: the difference over four
// is the cost of one encrypted field.
func BenchmarkHotPathEncrypted(b *testing.B) {
	var payload []byte
	for _, f := range []struct {
		num protowire.Number
		v   string
	}{{1, "m-42"}, {2, "grace.hopper@example.com"}, {3, "+31687654321"}, {4, "Grace Brewster Hopper"}, {5, "Damrak 1"}, {6, "Amsterdam"}} {
		payload = protowire.AppendString(protowire.AppendTag(payload, f.num, protowire.BytesType), f.v)
	}
	payload = protowire.AppendVarint(protowire.AppendTag(payload, 7, protowire.VarintType), 1200)

	dir := b.TempDir()
	kek, err := fieldcrypt.LocalKEK(filepath.Join(dir, "master.json"))
	if err != nil {
		b.Fatal(err)
	}
	store, err := fieldcrypt.NewDirStore(filepath.Join(dir, "data"))
	if err != nil {
		b.Fatal(err)
	}
	kr, err := fieldcrypt.NewKeyring(store, kek, fieldcrypt.WithCreate())
	if err != nil {
		b.Fatal(err)
	}
	h := codec.NewHasher([]byte("benchmark-salt-0123456789"))
	for _, bc := range []struct{ name, personal string }{
		{"fields=clear", ""},
		{"fields=4-encrypted", "[(hem.options.v1.field).pii = PII_HANDLING_ENCRYPT, (hem.options.v1.field).key_scope = KEY_SCOPE_DATA_SUBJECT]"},
		{"fields=4-deterministic", "[(hem.options.v1.field).pii = PII_HANDLING_ENCRYPT_DETERMINISTIC, (hem.options.v1.field).key_scope = KEY_SCOPE_DATA_SUBJECT]"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPlan(benchSchema(b, bc.personal))
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			// The machine is shared: CPU time says more than the clock.
			cpu0 := cpuTime()
			for b.Loop() {
				if _, _, rej, err := p.processValidated(b.Context(), payload, h, kr, buf, false, false); rej != nil || err != nil {
					b.Fatal(rej, err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
