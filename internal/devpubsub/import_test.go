package devpubsub

import (
	"encoding/gob"
	"os"
	"path/filepath"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/proto"
)

// TestImportStateFile: the backlog an earlier version saved comes back once,
// is in the log from then on (also after a crash), and the file is gone.
func TestImportStateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "pubsub.state")
	f, err := os.Create(state)
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := proto.Marshal(&pubsubpb.Topic{Name: "projects/p/topics/t"})
	sub, _ := proto.Marshal(&pubsubpb.Subscription{Name: "projects/p/subscriptions/s", Topic: "projects/p/topics/t", AckDeadlineSeconds: 10})
	enc := gob.NewEncoder(f)
	if err := enc.Encode(&stateHeader{NextID: 7, Topics: [][]byte{topic}, Subs: []subHeader{{Sub: sub, Messages: 2}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"5", "7"} {
		raw, _ := proto.Marshal(&pubsubpb.PubsubMessage{Data: []byte("d" + id), MessageId: id})
		if err := enc.Encode(&msgRecord{Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	logDir := filepath.Join(dir, "pubsub")
	s, err := New(WithDir(logDir), WithImportStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state file still there after the import: %v", err)
	}
	s.Crash()
	s2, err := New(WithDir(logDir), WithImportStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, _ := s2.Backlog("s"); n != 2 {
		t.Fatalf("backlog %d after import and crash, want 2", n)
	}
	s2.mu.Lock()
	next := s2.nextID
	s2.mu.Unlock()
	if next < 7 {
		t.Fatalf("next message id %d would reuse an imported id", next)
	}
}
