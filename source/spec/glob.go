package spec

import (
	"fmt"
	"path"
	"strings"
)

// Match reports whether name matches the glob pattern: '*' and '?' match
// within a '/'-separated segment (as path.Match, with [classes] and '\'
// escapes), and a segment "**" matches any number of segments, none
// included: "a/**/b" matches a/b, a/x/b and a/x/y/b. A malformed pattern
// matches nothing (ValidPattern says why).
func Match(pattern, name string) bool {
	ps := strings.Split(pattern, "/")
	ns := strings.Split(name, "/")
	// ok[j]: ps[:i] matches ns[:j]; one row per pattern segment, so the
	// cost is len(ps)*len(ns) whatever the number of "**".
	ok := make([]bool, len(ns)+1)
	next := make([]bool, len(ns)+1)
	ok[0] = true
	for _, p := range ps {
		clear(next)
		if p == "**" {
			seen := false
			for j := range ok {
				seen = seen || ok[j]
				next[j] = seen
			}
		} else {
			for j := 1; j <= len(ns); j++ {
				if ok[j-1] {
					m, err := path.Match(p, ns[j-1])
					if err != nil {
						return false
					}
					next[j] = m
				}
			}
		}
		ok, next = next, ok
	}
	return ok[len(ns)]
}

// ValidPattern says what is wrong with a glob, if anything: a malformed
// class or escape, or "**" inside a segment (it is a segment of its own).
func ValidPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("an empty pattern matches nothing")
	}
	for _, seg := range strings.Split(pattern, "/") {
		if seg != "**" && strings.Contains(seg, "**") {
			return fmt.Errorf("pattern %q: ** is a segment of its own (a/**/b), %q mixes it with other text", pattern, seg)
		}
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("pattern %q: segment %q: %w", pattern, seg, err)
		}
	}
	return nil
}

// FixedPrefix is the literal part of pattern before its first segment with
// a wildcard, ending in '/' (or "" when the first segment has one):
// "catalogue/*.csv.gz" → "catalogue/", "a/b/**/c" → "a/b/", "*.csv" → "".
// A pattern without a wildcard gives its directory part. hem dev uploads
// an inbox file FILE as FixedPrefix(pattern)+FILE.
func FixedPrefix(pattern string) string {
	segs := strings.Split(pattern, "/")
	n := len(segs) - 1 // without a wildcard: the directory
	for i, s := range segs {
		if strings.ContainsAny(s, `*?[\`) {
			n = i
			break
		}
	}
	if n == 0 {
		return ""
	}
	return strings.Join(segs[:n], "/") + "/"
}
