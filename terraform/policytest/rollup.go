package policytest

// rollupJob is the call of modules/scheduled_job that runs the rollup job
// (terraform/rollup.tf).
const rollupJob = "rollup"

// rollupGrants are the grants the rollup job's account may (and must)
// hold: query jobs reading the events dataset and writing the rollups
// dataset, nothing more.
var rollupGrants = []grant{
	{"google_project_iam_member", "roles/bigquery.jobUser", "var.project", "project"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "events_dataset_id", "dataset_id"},
	{"google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor", "google_bigquery_dataset.rollups", "dataset_id"},
}

func checkRollup(m *module, report reportFunc) {
	checkScheduledJob(m, report, "rollup-least-privilege", scheduledJob{
		call: rollupJob, who: "the rollup job", grants: rollupGrants,
		// The rollup job reads the rollup contracts: the registry's
		// invokers may name it.
		mayName: func(b *block, name string) bool { return mentions(b, "registry") && name == "invokers" },
	})
}
