package archive_test

import (
	"testing"
	"time"
)

// A payload that does not decode (an event archived as it came, a replay
// of bytes from elsewhere) is archived with NULL typed columns beside
// decodable ones; the sink does not crash freeing a decoder it never used.
func TestUndecodablePayloadsGetNullColumns(t *testing.T) {
	t.Parallel()
	l := newLake(t)
	s, _ := placed()
	evs := events(t, 6, time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), time.Minute)
	for i := 0; i < len(evs); i += 2 {
		evs[i].Payload = []byte("x") // a field tag with no value
	}
	l.write(t, s.Subject, evs)
	got := l.query(t, `SELECT count(*), count(order_id), count(payload) FROM read_parquet('{{glob}}', hive_partitioning = true)`)
	if len(got) != 1 || got[0][0] != "6" || got[0][1] != "3" || got[0][2] != "6" {
		t.Fatalf("rows, typed order ids, payloads = %v, want 6 3 6", got)
	}
}
