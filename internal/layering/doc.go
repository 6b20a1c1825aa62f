// Package layering holds the test that keeps hem's folders in layers: a
// package imports only packages of a lower layer, or of its own folder.
//
//	layer 4  cmd/                          the binary: flags in, exit code out
//	layer 3  internal/                     the CLI and the local stack (hem dev)
//	layer 2  collector/ processor/ client/ the services and the producer's client
//	         console/                      the web console
//	         layers/                       rollups, restore and archive verify
//	layer 1  registry/ sink/ source/       the registry, the sinks and the file sources
//	         fieldcrypt/                   field encryption and its keys
//	layer 0  contract/ envelope/ wire/ auth/ cache/ gen/   the ground floor
//
// The ground floor imports no other hem package but generated code.
//
// Nothing imports this package; it exists for its test.
package layering
