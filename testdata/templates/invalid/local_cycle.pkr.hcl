locals {
  a = "${local.c}-a"
  b = "${local.a}-b" # ERROR: Circular reference | local.a → local.c → local.b → local.a
  c = "${local.b}-c"
}
