package source

import (
	"regexp"
	"testing"
)

// The ids are part of what is stored: a change of the scheme would make a
// reload after an upgrade publish every record again under new ids. These
// are pinned.
func TestEventIDs(t *testing.T) {
	t.Parallel()
	var b idBuilder
	seen := map[string]string{}
	v8 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tc := range []struct {
		name, id, want string
	}{
		{"keyed", b.keyedID("catalogue", []string{"sku-1"}, []byte("payload")), "2c22f4d5-d158-81d6-b669-ecb18f8ff48e"},
		{"keyed, the key split differently", b.keyedID("catalogue", []string{"sku", "-1"}, []byte("payload")), "7d7390dd-86f6-8c95-9239-5052c34a5873"},
		{"keyed, another payload", b.keyedID("catalogue", []string{"sku-1"}, []byte("payload2")), "c83ffdf4-dac0-8dea-9d33-9ae587711671"},
		{"keyed, another source", b.keyedID("catalogue2", []string{"sku-1"}, []byte("payload")), "f67b7820-b407-859a-aa30-a2d2f849535a"},
		{"object record", b.recordID("landing", "catalogue/day1.csv", "gs://landing/catalogue/day1.csv", 7, "", 41), "51f48f4f-a2b2-8ae2-8bb5-f24f8a6530b6"},
		{"object record, next generation", b.recordID("landing", "catalogue/day1.csv", "gs://landing/catalogue/day1.csv", 8, "", 41), "3a221d94-afa0-884d-a1d5-7cf0d91125a9"},
		{"object record in an entry", b.recordID("landing", "catalogue/day1.zip", "gs://landing/catalogue/day1.zip", 7, "a.csv", 41), "097f1c7d-1038-8a24-b515-c33463851daa"},
		{"local file record", b.recordID("", "day1.csv", "file:///data/day1.csv", 0, "", 41), "51e2285a-4463-88e7-a1f2-76b12d12fef0"},
		{"local file elsewhere", b.recordID("", "day1.csv", "file:///other/day1.csv", 0, "", 41), "f429ace1-9223-8fbe-8ab0-4bf00ac06cb9"},
		{"whole file", b.fileID("catalogue", "gs://landing/catalogue/day1.csv", 7, "REASON_FILE_UNREADABLE"), "e5a4662f-bc58-87a4-851f-7c4b2659beec"},
		{"whole file, quarantined", b.fileID("catalogue", "gs://landing/catalogue/day1.csv", 7, "REASON_FILE_QUARANTINED"), "1d7d5774-3a6f-81c8-b021-b59887b6a284"},
	} {
		if prev, ok := seen[tc.id]; ok {
			t.Errorf("%s and %s: the same id", prev, tc.name)
		}
		seen[tc.id] = tc.name
		if !v8.MatchString(tc.id) {
			t.Errorf("%s: %s is not a version 8 UUID", tc.name, tc.id)
		}
		if tc.id != tc.want {
			t.Errorf("%s: id %s, pinned %s", tc.name, tc.id, tc.want)
		}
	}
}
