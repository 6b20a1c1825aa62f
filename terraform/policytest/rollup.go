package policytest

// The rollup job's accounts (terraform/rollup.tf).
const (
	rollupAccount   = "google_service_account.rollup"
	rollupScheduler = "google_service_account.rollup_scheduler"
)

// rollupGrants are the grants the rollup job's account may (and must)
// hold: query jobs reading the events dataset and writing the rollups
// dataset, nothing more.
var rollupGrants = []grant{
	{"google_project_iam_member", "roles/bigquery.jobUser", "var.project", "project"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "events_dataset_id", "dataset_id"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor", "google_bigquery_dataset.rollups", "dataset_id"},
}

// rollupSchedulerGrants: the scheduler only runs the rollup job.
var rollupSchedulerGrants = []grant{
	{"google_cloud_run_v2_job_iam_member", "roles/run.invoker", "google_cloud_run_v2_job.rollup", "name"},
}

func checkRollup(m *module, report reportFunc) {
	for _, acct := range []struct {
		addr, who string
		grants    []grant
		mayName   func(*block, string) bool
	}{
		// The rollup job reads the rollup contracts: the registry's
		// invokers may name it.
		{rollupAccount, "the rollup job", rollupGrants, func(b *block, name string) bool { return mentions(b, "registry") && name == "invokers" }},
		{rollupScheduler, "the rollup scheduler", rollupSchedulerGrants, func(*block, string) bool { return false }},
	} {
		var call *block
		for _, b := range resources(m, "google_service_account") {
			if b.name() == acct.addr {
				call = b
			}
		}
		if call == nil {
			continue
		}
		exactGrants{who: acct.who, rule: "rollup-least-privilege", names: namesAccount(acct.addr), grants: acct.grants,
			mayName: acct.mayName,
		}.check(m, call, report)
	}
}
