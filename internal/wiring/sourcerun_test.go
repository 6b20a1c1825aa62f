package wiring_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/internal/wiring"
)

// fakeLoader declares one source over gs://landing/catalogue/ and answers
// each load with status or err.
type fakeLoader struct {
	status sourcev1.Status
	err    error
	loads  []string
}

func (f *fakeLoader) Match(bucket, name string) (*sourcev1.Source, bool) {
	if bucket == "landing" && len(name) > len("catalogue/") && name[:len("catalogue/")] == "catalogue/" {
		return &sourcev1.Source{Name: "catalogue"}, true
	}
	return nil, false
}

func (f *fakeLoader) LoadObject(_ context.Context, src *sourcev1.Source, bucket, name string, gen int64) (*sourcev1.LedgerEntry, error) {
	f.loads = append(f.loads, fmt.Sprintf("%s gs://%s/%s#%d", src.GetName(), bucket, name, gen))
	if f.err != nil {
		return nil, f.err
	}
	return &sourcev1.LedgerEntry{Source: src.GetName(), Status: f.status}, nil
}

func TestSourceRunnerHandle(t *testing.T) {
	t.Parallel()
	finalize := wiring.NotificationAttributes(wiring.EventFinalize, "landing", "catalogue/day1.csv", 7, time.Now())
	tests := []struct {
		name      string
		attrs     map[string]string
		status    sourcev1.Status
		err       error
		wantAck   bool
		wantLoads []string
	}{
		{"loaded", finalize, sourcev1.Status_STATUS_LOADED, nil, true, []string{"catalogue gs://landing/catalogue/day1.csv#7"}},
		{"quarantined", finalize, sourcev1.Status_STATUS_QUARANTINED, nil, true, []string{"catalogue gs://landing/catalogue/day1.csv#7"}},
		{"failed", finalize, sourcev1.Status_STATUS_FAILED, nil, true, []string{"catalogue gs://landing/catalogue/day1.csv#7"}},
		{"still loading (cut off)", finalize, sourcev1.Status_STATUS_LOADING, nil, false, []string{"catalogue gs://landing/catalogue/day1.csv#7"}},
		{"busy or outage", finalize, 0, errors.New("another loader holds it"), false, []string{"catalogue gs://landing/catalogue/day1.csv#7"}},
		{"object gone", finalize, 0, fmt.Errorf("open: %w", wiring.ErrObjectMissing), true, []string{"catalogue gs://landing/catalogue/day1.csv#7"}},
		{"not a finalize", wiring.NotificationAttributes("OBJECT_DELETE", "landing", "catalogue/day1.csv", 7, time.Now()), 0, nil, true, nil},
		{"no source declares it", wiring.NotificationAttributes(wiring.EventFinalize, "landing", "stock/day1.zip", 3, time.Now()), 0, nil, true, nil},
		{"not a notification", map[string]string{"hello": "world"}, 0, nil, true, nil},
		{"bad generation", map[string]string{"eventType": wiring.EventFinalize, "bucketId": "landing", "objectId": "catalogue/x.csv", "objectGeneration": "x"}, 0, nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := &fakeLoader{status: tt.status, err: tt.err}
			r, err := wiring.NewSourceRunner(l, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ack := r.Handle(t.Context(), tt.attrs, nil); ack != tt.wantAck {
				t.Errorf("ack = %v, want %v", ack, tt.wantAck)
			}
			if fmt.Sprint(l.loads) != fmt.Sprint(tt.wantLoads) {
				t.Errorf("loads = %v, want %v", l.loads, tt.wantLoads)
			}
			if st := r.Stats(); st.Notifications != 1 || st.Loading != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestParseObjectNotificationSize(t *testing.T) {
	t.Parallel()
	n, err := wiring.ParseObjectNotification(
		wiring.NotificationAttributes(wiring.EventFinalize, "landing", "catalogue/a b.csv", 1765000000000000, time.Now()),
		[]byte(`{"kind":"storage#object","name":"catalogue/a b.csv","bucket":"landing","generation":"1765000000000000","size":"1234"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := wiring.ObjectNotification{EventType: wiring.EventFinalize, Bucket: "landing", Name: "catalogue/a b.csv", Generation: 1765000000000000, Size: 1234}
	if n != want {
		t.Errorf("got %+v, want %+v", n, want)
	}
}
