# A processor that scales to zero, throttles its CPU between requests, and
# leaves its ingress to a variable nobody reviews.

variable "processor_ingress" {
  description = "Ingress of the processor."
  type        = string
}

module "processor_archive" {
  source = "../../../modules/service"

  name                 = "hem-processor-archive"
  ingress              = var.processor_ingress
  cpu_always_allocated = false
  min_instances        = 0
}
