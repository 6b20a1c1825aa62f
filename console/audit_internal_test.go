package console

import (
	"fmt"
	"testing"
	"time"

	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
)

func TestGCSAudit(t *testing.T) {
	t.Parallel()
	a := NewGCSAudit(localgcstest.Client(t, "hem-console"), "hem-console")
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for i := range 3 {
		e := AuditEntry{At: at.Add(time.Duration(i) * time.Minute), Viewer: "dev", Action: "replay", What: fmt.Sprintf("group %d", i),
			Sent: i, Results: map[string]int{"EVENT_STATUS_ACCEPTED": i}, Events: []string{fmt.Sprintf("e-%d", i)}}
		if err := a.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.List(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].What != "group 2" || got[1].What != "group 1" || !got[0].At.Equal(at.Add(2*time.Minute)) ||
		got[0].Results["EVENT_STATUS_ACCEPTED"] != 2 || fmt.Sprint(got[0].Events) != "[e-2]" {
		t.Fatalf("List(2) = %+v, want groups 2 and 1, newest first, as recorded", got)
	}
	all, err := a.List(t.Context(), 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("List(10) = %d entries, %v; want 3", len(all), err)
	}
	// An entry is never overwritten: the name exists, the write fails.
	name, err := auditName(at)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.write(t.Context(), name, []byte(`{"what":"first"}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.write(t.Context(), name, []byte(`{"what":"second"}`)); err == nil {
		t.Fatal("a second write of the same entry succeeded; want the DoesNotExist precondition to refuse it")
	}
	e, err := a.read(t.Context(), name)
	if err != nil || e.What != "first" {
		t.Fatalf("entry after a refused overwrite: %+v, %v; want the first", e, err)
	}
}
