# The registry opened to everyone.

module "registry" {
  source = "../../../modules/service"

  name     = "hem-registry"
  ingress  = "INGRESS_TRAFFIC_ALL"
  invokers = { public = "allUsers" }
}
