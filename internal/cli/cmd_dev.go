package cli

import (
	"context"
	"errors"
)

func devCommand() *Command {
	return &Command{
		Name:    "dev",
		Summary: "run the whole pipeline locally: Pub/Sub, GCS, registry, collector, processors, DuckDB",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
