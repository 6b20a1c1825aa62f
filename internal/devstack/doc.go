// Package devstack runs the whole hem pipeline in one process for "hem dev":
// an embedded Pub/Sub server (devpubsub), an in-process GCS server backed by
// a folder, the registry, the collector, the processors and the DuckDB
// warehouse, wired with the production code and talking the production
// protocols over loopback. Only the endpoints differ from a deployment.
package devstack
