package sink

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// IsFailedEvents reports whether subject is the built-in FailedEvent
// subject (table _failed_events, the archive's failed/ prefix).
func IsFailedEvents(subject string) bool {
	return subject == contract.FailedEventSchema().Subject
}

// FailureKey is the identity of a failure, given the payload of a
// hem.event.v1.FailedEvent: its event id, stage and reason and a hash of
// its original bytes. A failed event's row id is its Pub/Sub message id,
// which differs between two FailedEvents of one failure (a producer sent a
// rejected event again after a crash cut off its answer; two processors
// refused the same event for the same reason); sinks that keep one row per
// failure keep the first of each key. It is "" when the payload is not a
// FailedEvent or names neither an event id nor original bytes (nothing
// tells two such failures apart).
func FailureKey(payload []byte) string {
	var fe eventv1.FailedEvent
	if err := proto.Unmarshal(payload, &fe); err != nil {
		return ""
	}
	if fe.GetEventId() == "" && len(fe.GetOriginal()) == 0 {
		return ""
	}
	h := sha256.New()
	var n [8]byte
	for _, v := range []uint64{uint64(fe.GetStage()), uint64(fe.GetReason()), uint64(len(fe.GetEventId()))} {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	h.Write([]byte(fe.GetEventId()))
	h.Write(fe.GetOriginal())
	return hex.EncodeToString(h.Sum(nil))
}
