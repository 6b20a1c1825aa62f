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
	checkAccounts(m, report, "rollup-least-privilege",
		// The rollup job reads the rollup contracts: the registry's
		// invokers may name it.
		accountGrants{addr: rollupAccount, who: "the rollup job", grants: rollupGrants,
			mayName: func(b *block, name string) bool { return mentions(b, "registry") && name == "invokers" }},
		accountGrants{addr: rollupScheduler, who: "the rollup scheduler", grants: rollupSchedulerGrants},
	)
}
