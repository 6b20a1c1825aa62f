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

func TestLoader(t *testing.T) {
	for _, tc := range []struct {
		name                string
		container, reserved int64
		want                Settings
	}{
		{"no container", 0, 4 << 30, Settings{Percent: 400}},
		{"Cloud Run, two loads of 256 MiB spills", 2 << 30, 512 << 20, Settings{Percent: 400, MemoryLimit: 1536 << 20 / 4 * 3}},
		{"no spill", 2 << 30, 0, Settings{Percent: 400, MemoryLimit: 1536 << 20}},
		{"spills take the whole container", 2 << 30, 4 << 30, Settings{}},
		{"too little left", 512 << 20, 450 << 20, Settings{}},
	} {
		if got := loader(tc.container, tc.reserved); got != tc.want {
			t.Errorf("%s: loader(%d, %d) = %+v, want %+v", tc.name, tc.container, tc.reserved, got, tc.want)
		}
	}
}
