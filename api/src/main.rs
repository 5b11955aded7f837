mod scim;
fn main() {}
