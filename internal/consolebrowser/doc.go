// Package consolebrowser tests hem's web console in a real browser: its
// tests start hem dev (internal/devstack) on free ports, drive Debian's
// chromium through chromedp, and check what a person sees on each page: the
// contracts, a diff of two versions, a rejected event in its failed-events
// group, its replay after a fix, clear messages for bad input, and that no
// PII value of a sample contract reaches any page. With -screenshots DIR the
// same test writes the README's screenshots.
//
// scripts/setup.sh (make setup, run by make check) installs chromium;
// HEM_CHROME names another Chrome or Chromium binary. Under -short the
// browser tests skip; without it they fail when no browser is found.
//
// The package has no code of its own; it exists for its tests.
package consolebrowser
