# Processors sized per sink, from a variable whose defaults are fine but whose
# type lets an unsized sink scale to zero; the dev environment leaves one
# sink unsized (prod sizes them all).

variable "processors" {
  description = "Size of each processor."
  type = map(object({
    min_instances = optional(number, 0)
  }))
  default = {
    bigquery = { min_instances = 1 }
  }
}

module "processor" {
  source   = "../../../modules/service"
  for_each = var.processors

  name                 = "hem-processor-${each.key}"
  ingress              = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  cpu_always_allocated = true
  min_instances        = var.processors[each.key].min_instances
}

# Undocumented whatever the values: reported once, for both environments.
output "processor_count" {
  value = length(module.processor)
}
