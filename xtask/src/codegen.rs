//! `cargo xtask codegen`: progenitor, run as a library, turns the curated spec into two
//! committed files, the low-level client and its typed httpmock helpers.
//!
//! Output is deterministic (same spec, same bytes) and needs no nightly toolchain: tokens
//! are formatted with `prettyplease`, and the including modules carry `#[rustfmt::skip]`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle, TypeImpl};
use schemars::schema::{InstanceType, SchemaObject};

/// The spec, relative to the workspace root.
const SPEC: &str = "openapi/elastic-cloud-billing.yaml";

/// The name under which the generated client crate is used by the mock crate.
const CLIENT_CRATE: &str = "ec_billing_api";

/// One file that `codegen` owns: where it goes and what it must contain.
struct GeneratedFile {
    path: PathBuf,
    contents: String,
}

/// Regenerates every file and writes those that changed.
pub(crate) fn write_all() -> Result<()> {
    let root = workspace_root();
    for file in generate(&root)? {
        let target = root.join(&file.path);
        let current = fs::read_to_string(&target).unwrap_or_default();
        if current == file.contents {
            println!("unchanged {}", file.path.display());
        } else {
            fs::write(&target, &file.contents)
                .with_context(|| format!("writing {}", target.display()))?;
            println!("wrote     {}", file.path.display());
        }
    }
    Ok(())
}

/// Regenerates every file in memory and fails, printing a diff, when one on disk differs.
pub(crate) fn check_all() -> Result<()> {
    let stale = stale_files(&workspace_root())?;
    if stale.is_empty() {
        println!("generated code is up to date with {SPEC}");
        return Ok(());
    }
    for (path, diff) in &stale {
        eprintln!("{} is stale:\n{diff}", path.display());
    }
    bail!("generated code is stale: run `cargo xtask codegen` and commit the result")
}

/// Returns each stale file with a unified diff from what is committed to what it should be.
fn stale_files(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut stale = Vec::new();
    for file in generate(root)? {
        let current = fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        if current != file.contents {
            let diff = similar::TextDiff::from_lines(&current, &file.contents)
                .unified_diff()
                .context_radius(2)
                .header("committed", "generated")
                .to_string();
            stale.push((file.path, diff));
        }
    }
    Ok(stale)
}

/// The workspace root: the parent of this crate's directory.
pub(crate) fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.join(".."), Path::to_path_buf)
}

/// Reads the spec and renders both generated files.
fn generate(root: &Path) -> Result<Vec<GeneratedFile>> {
    let spec_path = root.join(SPEC);
    let text = fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let spec: openapiv3::OpenAPI =
        serde_norway::from_str(&text).with_context(|| format!("parsing {SPEC}"))?;

    let mut generator = Generator::new(&settings());
    let client = generator
        .generate_tokens(&spec)
        .with_context(|| format!("generating the client from {SPEC}"))?;
    let mocks = generator
        .httpmock(&spec, CLIENT_CRATE)
        .with_context(|| format!("generating the httpmock helpers from {SPEC}"))?;

    Ok(vec![
        GeneratedFile {
            path: PathBuf::from("crates/ec-billing-api/src/generated.rs"),
            contents: render(with_operation_constants(
                with_strict_path_encoding(parse(client)?)?,
                &spec,
            )?),
        },
        GeneratedFile {
            path: PathBuf::from("crates/ec-billing-httpmock/src/generated.rs"),
            contents: render(with_literal_path_matchers(
                parse(mocks)?,
                path_parameters(&spec),
            )?),
        },
    ])
}

/// How progenitor is told to generate; each choice is explained in ARCHITECTURE.md.
fn settings() -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        // Builder methods, as in oxide.rs: `client.op().organization_id(..).send()`.
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        // Every call adds the caller's headers (credentials) and records its response's
        // status and headers before the body is decoded (see `CallHooks` in
        // ec-billing-api), so that an error whose body is not JSON keeps them.
        // `Expected` makes a missing hooks impl a compile error.
        .with_inner_type(quote::quote!(crate::CallHooks))
        .with_hooks(HooksMode::Expected)
        // One date-time crate for the workspace: jiff.
        .with_conversion(
            date_time_schema(),
            "::jiff::Timestamp",
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        )
        // Money is never a float: every `number`/`double` (costs, rates, chart values)
        // is read from the JSON number's own digits into an exact decimal, and written
        // back with the same digits (`ExactNumber`, in ec-billing-api's lib.rs).
        .with_conversion(
            double_schema(),
            "crate::ExactNumber",
            [TypeImpl::Display, TypeImpl::FromStr, TypeImpl::Default].into_iter(),
        )
        // Open-ended upstream enums: documented values as variants, any other kept as
        // its text, so that a value Elastic adds later does not fail a whole response
        // (ec-billing-api's `open_enums.rs`).
        .with_replacement("DimensionType", "crate::Dimension", std::iter::empty())
        .with_replacement("ItemKind", "crate::ResourceKind", std::iter::empty())
        .with_derive("PartialEq");
    settings
}

/// The schema `{type: string, format: date-time}`.
fn date_time_schema() -> SchemaObject {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        format: Some("date-time".to_string()),
        ..SchemaObject::default()
    }
}

/// The schema `{type: number, format: double}`.
fn double_schema() -> SchemaObject {
    SchemaObject {
        instance_type: Some(InstanceType::Number.into()),
        format: Some("double".to_string()),
        ..SchemaObject::default()
    }
}

/// Points the generated client's path encoding at `crate::encode_path` (ec-billing-api's
/// lib.rs) instead of progenitor-client's, which leaves `\` unencoded (a URL parser
/// reads it as `/`): every path parameter then travels as exactly one segment.
///
/// progenitor has no setting for this; it imports `encode_path` once, at the top of the
/// file, and every operation calls it through that import. The import is rewritten here,
/// and generation fails if it is not found exactly once, so that a progenitor upgrade
/// cannot silently bring the weaker encoding back.
fn with_strict_path_encoding(mut file: syn::File) -> Result<syn::File> {
    let mut rewritten = 0;
    let mut position = None;
    for (index, item) in file.items.iter_mut().enumerate() {
        let syn::Item::Use(item_use) = item else {
            continue;
        };
        let syn::UseTree::Path(path) = &mut item_use.tree else {
            continue;
        };
        if path.ident != "progenitor_client" {
            continue;
        }
        let syn::UseTree::Group(group) = &mut *path.tree else {
            continue;
        };
        let before = group.items.len();
        group.items = group
            .items
            .iter()
            .filter(|tree| !matches!(tree, syn::UseTree::Name(name) if name.ident == "encode_path"))
            .cloned()
            .collect();
        if group.items.len() != before {
            rewritten += before - group.items.len();
            position = Some(index + 1);
        }
    }
    match (rewritten, position) {
        (1, Some(index)) => file.items.insert(
            index,
            syn::parse_quote! {
                #[allow(unused_imports)]
                use crate::encode_path;
            },
        ),
        _ => bail!(
            "expected progenitor to import `encode_path` from progenitor_client exactly once, \
             found {rewritten}: the strict path encoding could not be wired in"
        ),
    }
    Ok(file)
}

/// The prefix the typed mocks' path patterns accept before `/billing/costs/`: any
/// number of whole segments, so that they match a client whose base URL has a path (the
/// documented `…/api/v1`) as well as one at the server's root.
const MOCK_PATH_PREFIX: &str = "^(?:/[^/]+)*/billing/costs/";

/// The operations of `spec` and the path parameters of each, as `(operations,
/// parameters)`: what the typed mocks' path matchers are made of.
fn path_parameters(spec: &openapiv3::OpenAPI) -> (usize, usize) {
    spec.paths
        .paths
        .iter()
        .filter_map(|(path, item)| Some((path, item.as_item()?)))
        .fold((0, 0), |(operations, parameters), (path, item)| {
            let count = item.iter().count();
            (
                operations + count,
                parameters + count * path.matches('{').count(),
            )
        })
}

/// Makes the typed mocks' path matchers match what the client sends, literally.
///
/// progenitor writes each operation's path as a regular expression anchored at the
/// server's root (`^/billing/costs/…`), with `.*` for a parameter left open and a given
/// parameter put in raw (`format!("…/{}/…", value.to_string())`): a client whose base
/// URL ends in `/api/v1` never matched, an id `a.b` also matched `axb`, and `we/ird id`
/// never matched its encoded form. progenitor has no setting for it, so here every
/// pattern accepts any leading segments ([`MOCK_PATH_PREFIX`]), an open parameter is
/// one segment (`[^/]*`), and a given one goes through `crate::literal_segment`
/// (ec-billing-httpmock's lib.rs: encoded as the client encodes it, then escaped).
/// Generation fails unless every pattern and parameter of every operation was
/// rewritten, so that an upgrade cannot bring the old matchers back silently.
fn with_literal_path_matchers(
    mut file: syn::File,
    (operations, parameters): (usize, usize),
) -> Result<syn::File> {
    use quote::ToTokens;
    use syn::{punctuated::Punctuated, visit_mut::VisitMut};

    #[derive(Default)]
    struct Rewrite {
        patterns: usize,
        parameters: usize,
        failed: Option<String>,
    }

    impl Rewrite {
        /// Rewrites `literal` when it is an operation's path pattern.
        fn pattern(&mut self, literal: &mut syn::LitStr) -> bool {
            let Some(rest) = literal
                .value()
                .strip_prefix("^/billing/costs/")
                .map(str::to_owned)
            else {
                return false;
            };
            let pattern = format!("{MOCK_PATH_PREFIX}{}", rest.replace(".*", "[^/]*"));
            *literal = syn::LitStr::new(&pattern, literal.span());
            self.patterns += 1;
            true
        }
    }

    impl VisitMut for Rewrite {
        // `Regex::new("^/billing/costs/[^/]*/…")`: the operation's own matcher.
        fn visit_lit_str_mut(&mut self, literal: &mut syn::LitStr) {
            self.pattern(literal);
        }

        // `format!("^/billing/costs/{}/…", value.to_string())`: a parameter's matcher.
        fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
            if !mac.path.is_ident("format") {
                return;
            }
            let Ok(mut args) =
                mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
            else {
                return;
            };
            let mut iter = args.iter_mut();
            let Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(literal),
                ..
            })) = iter.next()
            else {
                return;
            };
            if !self.pattern(literal) {
                return;
            }
            let value = quote::quote!(value.to_string()).to_string();
            for arg in iter {
                if arg.to_token_stream().to_string() != value {
                    self.failed = Some(arg.to_token_stream().to_string());
                    return;
                }
                *arg = syn::parse_quote!(crate::literal_segment(value));
                self.parameters += 1;
            }
            mac.tokens = args.to_token_stream();
        }
    }

    let mut rewrite = Rewrite::default();
    rewrite.visit_file_mut(&mut file);
    // Each operation: one pattern of its own, and one per parameter.
    let expected_patterns = operations + parameters;
    if let Some(arg) = rewrite.failed {
        bail!("a typed mock's path pattern has an argument other than `value.to_string()`: {arg}");
    }
    if rewrite.patterns != expected_patterns || rewrite.parameters != parameters {
        bail!(
            "expected {expected_patterns} path patterns with {parameters} parameters in the typed \
             mocks, rewrote {} with {}: the literal path matchers could not be wired in",
            rewrite.patterns,
            rewrite.parameters
        );
    }
    Ok(file)
}

/// `file` with the constants a request made without the generated client needs (the
/// wrapper's CSV request): the spec's version, sent as `api-version`, and each
/// operation's path template, by operation id. Emitted from the spec like the client,
/// so that both transports change together.
fn with_operation_constants(mut file: syn::File, spec: &openapiv3::OpenAPI) -> Result<syn::File> {
    let version = &spec.info.version;
    let mut paths = Vec::new();
    for (template, item) in spec.paths.iter() {
        let Some(item) = item.as_item() else {
            bail!("{SPEC}: path {template} is a reference, which codegen does not follow");
        };
        for (_, operation) in item.iter() {
            let Some(id) = &operation.operation_id else {
                bail!("{SPEC}: an operation of {template} has no operationId");
            };
            let name = quote::format_ident!("{}", id.to_uppercase().replace(['-', '.', ' '], "_"));
            let doc = format!(" `{id}`: `{template}`, under the base URL.");
            paths.push(quote::quote! {
                #[doc = #doc]
                pub const #name: &str = #template;
            });
        }
    }
    if paths.is_empty() {
        bail!("{SPEC}: no operations");
    }
    let version_doc = format!(
        " The spec's version (`info.version`), which every request sends as its \
         `api-version` header: {version}."
    );
    let tokens = quote::quote! {
        #[doc = #version_doc]
        pub const API_VERSION: &str = #version;

        /// Each operation's path template, by operation id: what a request made without
        /// the generated client (the items as CSV) fills in with its encoded ids.
        pub mod operation_paths {
            #(#paths)*
        }
    };
    let extra: syn::File = syn::parse2(tokens).context("the operation constants")?;
    file.items.extend(extra.items);
    Ok(file)
}

/// Parses generated tokens as a file.
fn parse(tokens: proc_macro2::TokenStream) -> Result<syn::File> {
    syn::parse2(tokens).context("progenitor produced invalid Rust")
}

/// Formats generated tokens into a file that starts with the do-not-edit line.
fn render(file: syn::File) -> String {
    // progenitor's doc examples are pseudo-code fenced as `ignore`, which rustdoc
    // counts as ignored tests in every run; `text` is what they are.
    let body = prettyplease::unparse(&file).replace("```ignore", "```text");
    format!(
        "// @generated by `cargo xtask codegen` from {SPEC}. Do not edit: change the spec and rerun.\n\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_code_is_up_to_date_with_the_spec() {
        let stale = stale_files(&workspace_root()).expect("codegen runs");
        let names: Vec<_> = stale
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect();
        assert!(
            stale.is_empty(),
            "stale generated files {names:?}: run `cargo xtask codegen` and commit the result\n{}",
            stale
                .iter()
                .map(|(_, diff)| diff.as_str())
                .collect::<String>()
        );
    }

    #[test]
    fn the_generated_types_hold_no_float() {
        let client = generate(&workspace_root()).expect("codegen runs");
        for file in &client {
            assert!(
                !file.contents.contains("f64") && !file.contents.contains("f32"),
                "{} has a float: money must be exact",
                file.path.display()
            );
        }
        let dir = workspace_root().join("crates/ec-billing/src/model");
        let mut files = 0;
        for entry in fs::read_dir(&dir).expect("the wrapper's model") {
            let path = entry.expect("a model file").path();
            if path.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let model = fs::read_to_string(&path).expect("a model file");
            let code = model.split("#[cfg(test)]").next().unwrap_or_default();
            assert!(!code.contains("f64"), "{} has a float", path.display());
            files += 1;
        }
        assert!(
            files >= 3,
            "the wrapper's model files are in {}",
            dir.display()
        );
    }

    #[test]
    fn regenerating_gives_identical_bytes() {
        let first = generate(&workspace_root()).expect("codegen runs");
        let second = generate(&workspace_root()).expect("codegen runs");
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(
                a.contents,
                b.contents,
                "{} differs between runs",
                a.path.display()
            );
        }
    }
}
