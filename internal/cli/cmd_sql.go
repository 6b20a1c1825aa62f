package cli

import (
	"context"
	"errors"
)

func sqlCommand() *Command {
	return &Command{
		Name:    "sql",
		Summary: "query the local DuckDB warehouse",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
