processors = {
  bigquery = { min_instances = 1 }
  archive  = {}
}
