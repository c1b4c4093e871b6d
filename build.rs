//! Embeds `templates/` into the binary, so an installed `tocsin` needs no
//! files beside it.

fn main() {
    minijinja_embed::embed_templates!("templates", &[".j2"][..]);
}
