//! The model macro's input syntax.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, parenthesized, Attribute, Expr, Ident, LitInt, Stmt, Token, Visibility};

mod kw {
    syn::custom_keyword!(layers);
    syn::custom_keyword!(degree);
}

/// One `key: value` (or bare `key`) entry of the header.
pub struct Setting {
    pub key: Ident,
    pub value: Option<LitInt>,
}

impl Parse for Setting {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        let value = if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Setting { key, value })
    }
}

/// The kinds of layer a model declares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LayerKind {
    Dense,
    Diagonal,
    /// A 2-D convolution between packed layouts (`fhe_dsl::typed::Conv`): 1 level.
    Conv,
    /// Any packed linear map with a per-slot bias (`fhe_dsl::typed::Linear`): 1 level.
    Linear,
    /// Per-channel sums over a layout's positions (`fhe_dsl::typed::SpatialSum`): no level.
    SpatialSum,
    Poly {
        degree: usize,
    },
}

pub struct LayerDecl {
    pub name: Ident,
    pub kind: LayerKind,
    pub kind_ident: Ident,
}

impl Parse for LayerDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let kind_ident: Ident = input.parse()?;
        let kind = match kind_ident.to_string().as_str() {
            "Dense" => LayerKind::Dense,
            "Diagonal" => LayerKind::Diagonal,
            "Conv" => LayerKind::Conv,
            "Linear" => LayerKind::Linear,
            "SpatialSum" => LayerKind::SpatialSum,
            "Poly" => {
                let content;
                parenthesized!(content in input);
                content.parse::<kw::degree>()?;
                content.parse::<Token![=]>()?;
                let d: LitInt = content.parse()?;
                let degree: usize = d.base10_parse()?;
                if degree == 0 {
                    return Err(syn::Error::new_spanned(
                        d,
                        "a polynomial activation needs degree ≥ 1",
                    ));
                }
                LayerKind::Poly { degree }
            }
            other => {
                return Err(syn::Error::new_spanned(
                    &kind_ident,
                    format!(
                        "unknown layer kind `{other}`: expected `Dense`, `Diagonal`, `Conv`, `Linear`, `SpatialSum` or `Poly(degree = d)`"
                    ),
                ))
            }
        };
        Ok(LayerDecl {
            name,
            kind,
            kind_ident,
        })
    }
}

pub struct Model {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub settings: Vec<Setting>,
    pub layers: Vec<LayerDecl>,
    pub fn_name: Ident,
    pub input: Ident,
    pub body: Vec<Stmt>,
    pub body_span: Span,
}

impl Parse for Model {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let settings: Punctuated<Setting, Token![,]> =
            content.parse_terminated(Setting::parse, Token![,])?;
        input.parse::<kw::layers>()?;
        let content;
        braced!(content in input);
        let layers: Punctuated<LayerDecl, Token![,]> =
            content.parse_terminated(LayerDecl::parse, Token![,])?;
        input.parse::<Token![fn]>()?;
        let fn_name: Ident = input.parse()?;
        let args;
        parenthesized!(args in input);
        let input_name: Ident = args.parse()?;
        let body;
        let brace = braced!(body in input);
        let stmts = body.call(syn::Block::parse_within)?;
        Ok(Model {
            attrs,
            vis,
            name,
            settings: settings.into_iter().collect(),
            layers: layers.into_iter().collect(),
            fn_name,
            input: input_name,
            body: stmts,
            body_span: brace.span.join(),
        })
    }
}

/// A call's callee and arguments, if the expression is `name(args…)`.
pub fn as_call(e: &Expr) -> Option<(&Ident, Vec<&Expr>)> {
    if let Expr::Call(c) = e {
        if let Expr::Path(p) = &*c.func {
            if let Some(id) = p.path.get_ident() {
                return Some((id, c.args.iter().collect()));
            }
        }
    }
    None
}

/// The identifier, if the expression is a bare name.
pub fn as_ident(e: &Expr) -> Option<&Ident> {
    if let Expr::Path(p) = e {
        return p.path.get_ident();
    }
    None
}

/// An integer literal, possibly negated.
pub fn as_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse().ok(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => as_int(expr).map(|v| -v),
        _ => None,
    }
}
