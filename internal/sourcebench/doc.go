// Package sourcebench measures file sources end to end: a generated product
// catalogue (source/sample) loaded through source/read, source/mapping and
// the collector's core, against DuckDB's own read_csv loading the same file.
// It has no code of its own: the benchmarks are in its test files, in a
// layer-3 package because they wire the real collector to the loader.
//
//	go test -run '^$' -bench 'Catalogue/50MB' -benchtime 1x ./internal/sourcebench   # quick
//	go test -run '^$' -bench 'Catalogue/1GB' -benchtime 1x -count 3 ./internal/sourcebench
//
// The generated files are cached in $HEM_SOURCEBENCH_DIR (default
// os.TempDir()/hem-sourcebench), uncompressed so that DuckDB reads the same
// bytes.
package sourcebench
