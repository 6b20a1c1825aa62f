package gctune

import "testing"

func TestParseMemoryMax(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int64
	}{
		{"max\n", 0},
		{"2147483648\n", 2 << 30},
		{"536870912", 512 << 20},
		{"", 0},
		{"-1\n", 0},
		{"garbage", 0},
	} {
		if got := parseMemoryMax(tc.file); got != tc.want {
			t.Errorf("parseMemoryMax(%q) = %d, want %d", tc.file, got, tc.want)
		}
	}
}

func TestEnvironmentWins(t *testing.T) {
	s := Settings{Percent: 400, MemoryLimit: 1 << 30}
	for _, tc := range []struct {
		env  map[string]string
		want Settings
	}{
		{nil, s},
		{map[string]string{"GOGC": "100"}, Settings{MemoryLimit: 1 << 30}},
		{map[string]string{"GOMEMLIMIT": "off"}, Settings{Percent: 400}},
		{map[string]string{"GOGC": "off", "GOMEMLIMIT": "512MiB"}, Settings{}},
	} {
		lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		if got := s.withoutEnv(lookup); got != tc.want {
			t.Errorf("env %v: applied %+v, want %+v", tc.env, got, tc.want)
		}
	}
}
