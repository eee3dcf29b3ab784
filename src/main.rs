fn main() {
    print!("{}", workflow_share::resources::crds_yaml().unwrap());
}
