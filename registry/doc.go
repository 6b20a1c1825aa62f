// Package registry is hem's schema registry: subjects (the full names of
// event messages), immutable versions per subject, and a global,
// monotonically increasing schema id per (subject, version).
//
// A version is a self-contained FileDescriptorSet (contract.Schema). Pushing a
// schema whose fingerprint equals a stored version returns that version;
// anything else is admitted only when it is compatible with every earlier
// version of its subject (the rules of docs/EVOLUTION.md, checked by
// registry/compat), and rejections come back as violations, each with a rule
// id, an element path and a sentence. A breaking change is a new major
// package, and so a new subject. Nothing is ever deleted.
//
// # Storage
//
// Versions live in GCS (cloud.google.com/go/storage): one content-addressed
// object per descriptor set and one index object, updated only by uploads
// conditioned on the generation that was read. That makes every
// registration atomic, across goroutines and across replicas: no version is
// lost and no id is handed out twice. Locally the same code runs against an
// in-process GCS server on a folder (registry/localgcs).
//
// # Migrations
//
// With WithMigrator, an admitted version is stored PENDING, the migrators
// create or widen its warehouse tables, and only then does it become USABLE.
// Collectors accept events only for usable versions (Latest).
//
// # Serving
//
// Service implements the gRPC API (hem.registry.v1.RegistryService) over a
// Registry, with API-key or Google ID token authentication for writes;
// Serve runs it with gRPC health checking. Client is the caching client the
// collector and processors use: schemas by id are cached forever (they are
// immutable), the latest version per subject for a short TTL or as a Watch
// stream reports it.
package registry
