//! The generated host bindings of the `volga:pipeline` WIT package. Nothing else calls
//! `bindgen!`; the rest of the host uses the surface re-exported by [`crate::wasm`].

wasmtime::component::bindgen!({
    world: "pipeline",
    path: "../wit",
});
