//! Write Volga feature pipelines in Rust.
//!
//! A pipeline crate declares typed datasets with `#[derive(Dataset)]`, binds source datasets to
//! connectors, and describes derived datasets with `filter`, `transform`, `join` and
//! `group_by(...).aggregate(...)`. `volga build` compiles it into a WebAssembly component; the
//! closures passed to `filter` and `transform` run inside that component, one batch at a time.
//!
//! ```ignore
//! use volga_guest::prelude::*;
//!
//! #[derive(Dataset)]
//! pub struct User {
//!     #[key] pub user_id: String,
//!     #[timestamp] pub registered_at: Timestamp,
//!     pub name: String,
//! }
//! # // Order and OnSaleUserSpentInfo are declared the same way.
//!
//! fn pipeline() -> App {
//!     let mut app = App::new("on_sale_user_spent");
//!     let users = app.source::<User>([Source::table("mysql", "users")]);
//!     let orders = app.source::<Order>([
//!         Source::topic("kafka", "orders").tag("online"),
//!         Source::table("mysql", "orders").tag("offline"),
//!     ]);
//!     app.pipeline::<OnSaleUserSpentInfo>(
//!         orders
//!             .filter(|o: &Order| o.product_type == "ON_SALE")
//!             .join(&users, Join::left_on(["buyer_id"]).right_on(["user_id"]))
//!             .group_by(["user_id"])
//!             .aggregate([
//!                 Avg::on("product_price").window("7d").into("avg_spent_7d"),
//!                 Avg::on("product_price").window("1h").into("avg_spent_1h"),
//!                 Count::rows().window("1w").into("num_purchases_1w"),
//!             ]),
//!     );
//!     app
//! }
//!
//! volga_guest::export_pipeline!(pipeline);
//! ```

mod aggregate;
mod app;
#[doc(hidden)]
pub mod component;
mod lambda;
mod row;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "pipeline",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_guest",
        default_bindings_module: "volga_guest::bindings",
    });
}

pub use aggregate::{
    Aggregate, Avg, Count, Distinct, ExpDecaySum, FirstK, LastK, Max, Min, Quantile, Stddev, Sum,
};
pub use app::{App, Dedup, Join, Source, Stream};
pub use row::{Column, Columns, FieldDef, FieldType, FieldValue, Row, Scalar, Timestamp, split_strings};
pub use volga_guest_derive::Dataset;

/// Everything a pipeline crate usually needs.
pub mod prelude {
    pub use crate::{
        App, Avg, Count, Dataset, Dedup, Distinct, ExpDecaySum, FirstK, Join, LastK, Max, Min, Quantile,
        Source, Stddev, Stream, Sum, Timestamp,
    };
}

/// Exports a pipeline: `export_pipeline!(build)` where `fn build() -> App`.
///
/// Expands to the component's exports: `describe` calls `build` once per instance, and the
/// lambda calls run the closures that `build` registered.
#[macro_export]
macro_rules! export_pipeline {
    ($build:path) => {
        struct __VolgaPipeline;

        impl $crate::bindings::exports::volga::pipeline::guest::Guest for __VolgaPipeline {
            fn describe() -> $crate::bindings::volga::pipeline::description::PipelineSpec {
                $crate::component::describe($build)
            }

            fn filter(
                lambda: u32,
                rows: $crate::bindings::volga::pipeline::types::Batch,
            ) -> ::std::result::Result<::std::vec::Vec<bool>, ::std::string::String> {
                $crate::component::filter($build, lambda, rows)
            }

            fn transform(
                lambda: u32,
                rows: $crate::bindings::volga::pipeline::types::Batch,
            ) -> ::std::result::Result<
                $crate::bindings::exports::volga::pipeline::guest::TransformOutput,
                ::std::string::String,
            > {
                $crate::component::transform($build, lambda, rows)
            }

            fn assign(
                lambda: u32,
                rows: $crate::bindings::volga::pipeline::types::Batch,
            ) -> ::std::result::Result<$crate::bindings::volga::pipeline::types::Column, ::std::string::String>
            {
                $crate::component::assign($build, lambda, rows)
            }
        }

        $crate::bindings::__export_guest!(__VolgaPipeline with_types_in $crate::bindings);
    };
}
