package mapping

import (
	"strings"
)

// Problem is one thing wrong with a declaration's mapping, found by Compile.
type Problem struct {
	// Path is the declaration's path of the offending element:
	// "fields[price.amount_micros]", "event_time", "key[0]", "format".
	Path string
	// Message says what is wrong, and how to fix it when hem can tell.
	Message string
}

func (p *Problem) Error() string { return p.Path + ": " + p.Message }

// Errors is every Problem Compile found, in declaration order (fields by
// path, then event_time, then key).
type Errors []*Problem

func (e Errors) Error() string {
	var b strings.Builder
	for i, p := range e {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// MapError is a record that cannot be mapped: the loader rejects it (and
// only it). Its message never quotes a value of a PII column.
type MapError struct {
	// Field is the contract field path being set ("price.amount_micros"),
	// or "event_time".
	Field string
	// Column is the record's column the value came from, "" when the field
	// is an expression reading several columns or none.
	Column string
	// Message says why, e.g. `not an integer: "12x"`.
	Message string
}

func (e *MapError) Error() string {
	var b strings.Builder
	b.WriteString(e.Field)
	if e.Column != "" {
		b.WriteString(" (column ")
		b.WriteString(e.Column)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}
