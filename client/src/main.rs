fn main() {
    yew::Renderer::<client::App>::new().render();
}
