//! The model macro's input syntax.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    braced, bracketed, parenthesized, Attribute, Expr, Ident, LitInt, Stmt, Token, Visibility,
};

mod kw {
    syn::custom_keyword!(layers);
    syn::custom_keyword!(degree);
    syn::custom_keyword!(block);
}

/// A setting's value: an integer literal or a const generic parameter's name.
pub enum SettingValue {
    Int(LitInt),
    Param(Ident),
}

/// One entry of the header: `key: value`, a bare flag `key`, or `PARAM in [v, …]` (the
/// values a const generic parameter is instantiated for).
pub enum Setting {
    Value {
        key: Ident,
        value: Option<SettingValue>,
    },
    Instances {
        param: Ident,
        values: Vec<LitInt>,
    },
}

impl Parse for Setting {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        if input.peek(Token![in]) {
            input.parse::<Token![in]>()?;
            let content;
            bracketed!(content in input);
            let values: Punctuated<LitInt, Token![,]> =
                content.parse_terminated(|p: ParseStream| p.parse(), Token![,])?;
            return Ok(Setting::Instances {
                param: key,
                values: values.into_iter().collect(),
            });
        }
        let value = if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            if input.peek(LitInt) {
                Some(SettingValue::Int(input.parse()?))
            } else {
                Some(SettingValue::Param(input.parse()?))
            }
        } else {
            None
        };
        Ok(Setting::Value { key, value })
    }
}

/// The kinds of layer a model declares.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LayerKind {
    /// `Dense`, `Diagonal`, `Conv`, `Linear`, `SpatialSum` or `Poly(degree = d)`.
    Prim(fhe_plan::LayerKind),
    /// A block declared in the same `model!`, by name.
    Block,
    /// An array of blocks applied one after the other: `[Block; count]`.
    Array(ArrayLen),
}

/// The length of an array of blocks.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ArrayLen {
    Lit(usize),
    Param(Ident),
}

pub struct LayerDecl {
    pub name: Ident,
    pub kind: LayerKind,
    /// The kind's name (the block's name for blocks and arrays).
    pub kind_ident: Ident,
}

impl Parse for LayerDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        if input.peek(syn::token::Bracket) {
            let content;
            bracketed!(content in input);
            let kind_ident: Ident = content.parse()?;
            content.parse::<Token![;]>()?;
            let len = if content.peek(LitInt) {
                let n: LitInt = content.parse()?;
                ArrayLen::Lit(n.base10_parse()?)
            } else {
                ArrayLen::Param(content.parse()?)
            };
            return Ok(LayerDecl {
                name,
                kind: LayerKind::Array(len),
                kind_ident,
            });
        }
        let kind_ident: Ident = input.parse()?;
        use fhe_plan::LayerKind as K;
        let kind = match kind_ident.to_string().as_str() {
            "Dense" => LayerKind::Prim(K::Dense),
            "Diagonal" => LayerKind::Prim(K::Diagonal),
            "Conv" => LayerKind::Prim(K::Conv),
            "Linear" => LayerKind::Prim(K::Linear),
            "SpatialSum" => LayerKind::Prim(K::SpatialSum),
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
                LayerKind::Prim(K::Poly { degree })
            }
            // resolved against the declared blocks when the model is lowered
            _ => LayerKind::Block,
        };
        Ok(LayerDecl {
            name,
            kind,
            kind_ident,
        })
    }
}

/// A block or the model: layers and a forward pass (the model also has settings and
/// const generic parameters).
pub struct Unit {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// `const X: usize` parameters (the model only).
    pub params: Vec<Ident>,
    pub settings: Vec<Setting>,
    pub layers: Vec<LayerDecl>,
    pub fn_name: Ident,
    pub input: Ident,
    pub body: Vec<Stmt>,
    pub body_span: Span,
}

/// The macro's input: blocks, then the model.
pub struct Model {
    pub blocks: Vec<Unit>,
    pub main: Unit,
}

impl Parse for Model {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut blocks = Vec::new();
        loop {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis: Visibility = input.parse()?;
            if input.peek(kw::block) {
                input.parse::<kw::block>()?;
                let name: Ident = input.parse()?;
                let content;
                braced!(content in input);
                blocks.push(Unit::parse_rest(
                    &content,
                    attrs,
                    vis,
                    name,
                    vec![],
                    vec![],
                )?);
                continue;
            }
            input.parse::<Token![struct]>()?;
            let name: Ident = input.parse()?;
            let mut params = Vec::new();
            if input.peek(Token![<]) {
                input.parse::<Token![<]>()?;
                loop {
                    input.parse::<Token![const]>()?;
                    params.push(input.parse::<Ident>()?);
                    input.parse::<Token![:]>()?;
                    let ty: Ident = input.parse()?;
                    if ty != "usize" {
                        return Err(syn::Error::new_spanned(
                            ty,
                            "model parameters are `const NAME: usize`",
                        ));
                    }
                    if input.peek(Token![,]) {
                        input.parse::<Token![,]>()?;
                    }
                    if input.peek(Token![>]) {
                        input.parse::<Token![>]>()?;
                        break;
                    }
                }
            }
            let content;
            braced!(content in input);
            let settings: Punctuated<Setting, Token![,]> =
                content.parse_terminated(Setting::parse, Token![,])?;
            let main = Unit::parse_rest(
                input,
                attrs,
                vis,
                name,
                params,
                settings.into_iter().collect(),
            )?;
            if !input.is_empty() {
                return Err(input.error("the model comes last: declare blocks before it"));
            }
            return Ok(Model { blocks, main });
        }
    }
}

impl Unit {
    /// `layers { … } fn forward(x) { … }`.
    fn parse_rest(
        input: ParseStream,
        attrs: Vec<Attribute>,
        vis: Visibility,
        name: Ident,
        params: Vec<Ident>,
        settings: Vec<Setting>,
    ) -> syn::Result<Self> {
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
        Ok(Unit {
            attrs,
            vis,
            name,
            params,
            settings,
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
