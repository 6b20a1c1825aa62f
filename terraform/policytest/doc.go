// Package policytest checks hem's terraform against the deployment's policies
// by reading the HCL itself: no providers, no plan, no credentials, so it runs in
// every "go test ./..." and in CI on a machine that has never seen Google Cloud.
//
// The policies (see [Rules] for the full list and their ids) are the promises
// terraform/README.md makes to the teams who deploy hem:
//
//   - every Pub/Sub subscription of a sink has a dead-letter policy and a retry
//     policy, and the Pub/Sub service agent may move dead letters; the
//     dead-letter subscriptions themselves are the ones named "*-dead-letter";
//   - every Cloud Run service runs as its own service account;
//   - no primitive role (roles/owner, roles/editor, roles/viewer) anywhere;
//   - every bucket enforces public access prevention and uniform access;
//   - the archive deletes failed events (failed/) by age, as the failed-events
//     table does;
//   - only the collector admits unauthenticated callers, and processors accept
//     internal traffic only;
//   - the file source service holds exactly its grants (landing read, ledger
//     write, publish, its subscription, the registry, the PII salt);
//   - the console holds exactly its grants (query and read the datasets, read
//     metrics, invoke the registry and the collector, add to its audit bucket,
//     read the ledger and the archive, its two secrets);
//   - only the collector (encrypt and decrypt: it wraps new keysets and unwraps
//     the ones it uses) and the field readers group (decrypt) may use the field
//     KEK, each by a grant on the key itself;
//   - the keys sync job reads keys/ (not keys/audit/) of the registry bucket
//     and edits the keys table, with no KMS role: it copies keysets wrapped.
//   - each scheduled job's account (rollup, archive verify, keys sync, calls of
//     modules/scheduled_job) holds exactly its grants, and its scheduler's
//     account holds only run.invoker on its job.
//
// The checker is deliberately syntactic. It evaluates what it can (literals,
// variable values, locals, each.key of a known for_each) and treats references
// it cannot resolve as unknown, which each rule handles explicitly: a rule
// either accepts an unknown value (the call site is checked instead) or demands
// a literal, so that the policy is visible in review. A module that environments deploy (a directory
// of .tfvars files below it, such as terraform/environments/prod) is checked
// once per environment, with that environment's values over the defaults and
// converted to the variables' types as terraform does; other modules are
// checked with their defaults. Tests in this package run it on the real tree,
// on small fixtures under testdata/ that must fail, and on mutated copies of the
// real tree.
//
// Nothing in hem imports this package; it exists for its tests.
package policytest
