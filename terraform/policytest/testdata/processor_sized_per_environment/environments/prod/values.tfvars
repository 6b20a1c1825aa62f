processors = {
  bigquery = { min_instances = 2 }
  archive  = { min_instances = 1 }
}
