package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem of a declaration, at a position of its file.
type Error struct {
	File string // the file as given to Load or Parse, e.g. sources/x.yaml
	Line int    // 1-based
	Col  int    // 1-based; 0 when the YAML parser did not say
	// Path is the element the problem is about, in the declaration's path
	// syntax ("fields[price.amount_micros]", "format.csv.columns[2]"), ""
	// for the file as a whole.
	Path    string
	Message string
}

// Error prints the problem as file:line:col: path: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	fmt.Fprintf(&b, ":%d:", e.Line)
	if e.Col > 0 {
		fmt.Fprintf(&b, "%d:", e.Col)
	}
	b.WriteByte(' ')
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found, sorted by file, line and column. Its Error
// prints one problem a line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sort orders es by file, line and column.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// err returns es as an error, nil when empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}
