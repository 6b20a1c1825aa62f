package registry

import (
	"errors"
	"fmt"
)

// ErrNotFound means an unknown schema id, subject or version.
var ErrNotFound = errors.New("not found")

// ErrInvalid means a malformed request: a descriptor set that does not
// resolve, a subject that is not an event type, a duplicate or reserved
// subject.
var ErrInvalid = errors.New("invalid request")

// ErrConflict means a registration kept losing races against concurrent
// writers until it gave up; retrying is safe.
var ErrConflict = errors.New("too many concurrent registrations")

// MigrationError reports a warehouse migration that failed for a version.
// The version is stored but stays PENDING; registering the same schema again
// retries the migration.
type MigrationError struct {
	Subject string
	Version int
	ID      int64
	Err     error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("register %s v%d (id %d): migrate: %v", e.Subject, e.Version, e.ID, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }
