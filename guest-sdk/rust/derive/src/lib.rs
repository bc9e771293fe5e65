//! `#[derive(Dataset)]`: turns a struct into a typed Volga row.
//!
//! ```ignore
//! #[derive(Dataset)]
//! pub struct User {
//!     #[key]
//!     pub user_id: String,
//!     #[timestamp]
//!     pub registered_at: Timestamp,
//!     pub name: String,
//! }
//! ```
//! Each field's type must implement `volga_guest::FieldValue`; `#[key]` marks key fields and
//! `#[timestamp]` the event-time field. `#[dataset(name = "...")]` overrides the dataset name.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, parse_macro_input};

/// Derives `volga_guest::Row` for a struct with named fields.
#[proc_macro_derive(Dataset, attributes(key, timestamp, dataset))]
pub fn derive_dataset(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let ident = &input.ident;
    let mut dataset_name = ident.to_string();
    for attr in &input.attrs {
        if attr.path().is_ident("dataset") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    dataset_name = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("expected `name = \"...\"`"))
                }
            })?;
        }
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(ident, "#[derive(Dataset)] needs a struct"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(ident, "#[derive(Dataset)] needs named fields"));
    };

    let mut defs = Vec::new();
    let mut takes = Vec::new();
    let mut builds = Vec::new();
    let mut puts = Vec::new();
    let mut readers = Vec::new();
    let mut blanks = Vec::new();
    let mut reads = Vec::new();
    for (index, field) in fields.named.iter().enumerate() {
        let name = field.ident.as_ref().expect("named field");
        let ty = &field.ty;
        let key = field.attrs.iter().any(|a| a.path().is_ident("key"));
        let timestamp = field.attrs.iter().any(|a| a.path().is_ident("timestamp"));
        let column = syn::Ident::new(&format!("__column_{index}"), name.span());
        let name_str = name.to_string();
        defs.push(quote! {
            ::volga_guest::FieldDef {
                name: #name_str,
                ty: <#ty as ::volga_guest::FieldValue>::TYPE,
                key: #key,
                timestamp: #timestamp,
            }
        });
        takes.push(quote! {
            let mut #column = <#ty as ::volga_guest::FieldValue>::take_column(
                columns.take(#index, #name_str)?,
            )?.into_iter();
        });
        builds.push(quote! { #name: #column.next().expect("column length checked") });
        let reader = syn::Ident::new(&format!("__reader_{index}"), name.span());
        readers.push(quote! {
            let #reader = <#ty as ::volga_guest::FieldValue>::reader(columns.take(#index, #name_str)?)?;
        });
        blanks.push(quote! { #name: <#ty as ::volga_guest::FieldValue>::blank() });
        reads.push(quote! {
            <#ty as ::volga_guest::FieldValue>::read_into(&#reader, __index, &mut __row.#name);
        });
        puts.push(quote! {
            ::volga_guest::FieldValue::put_column(
                rows.iter().map(|row| &row.#name),
            )
        });
    }

    Ok(quote! {
        impl ::volga_guest::Row for #ident {
            const DATASET: &'static str = #dataset_name;

            fn fields() -> ::std::vec::Vec<::volga_guest::FieldDef> {
                ::std::vec![#(#defs),*]
            }

            fn decode(
                columns: &mut ::volga_guest::Columns,
            ) -> ::std::result::Result<::std::vec::Vec<Self>, ::std::string::String> {
                #(#takes)*
                Ok((0..columns.len()).map(|_| Self { #(#builds),* }).collect())
            }

            fn visit(
                columns: &mut ::volga_guest::Columns,
                mut __visit: impl FnMut(&Self),
            ) -> ::std::result::Result<(), ::std::string::String> {
                #(#readers)*
                let mut __row = Self { #(#blanks),* };
                for __index in 0..columns.len() {
                    #(#reads)*
                    __visit(&__row);
                }
                Ok(())
            }

            fn encode(rows: &[Self]) -> ::std::vec::Vec<::volga_guest::Column> {
                ::std::vec![#(#puts),*]
            }
        }
    })
}
