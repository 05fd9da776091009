//! The formula language of docs/problems.md: a parser with line/column errors and an evaluator over any
//! dual-number type, so that values and exact derivatives come from one compiled form.
//!
//! Grammar (usual precedence, `^` binds tightest and associates to the right, `-x^2 = -(x^2)`):
//!
//! ```text
//! expr    := term (("+" | "-") term)*
//! term    := unary (("*" | "/") unary)*
//! unary   := "-" unary | "+" unary | power
//! power   := atom ("^" unary)?
//! atom    := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
//! ```
//!
//! Functions: `exp ln log sqrt abs sin cos tanh sigmoid softplus` (one argument; `log` is the
//! natural logarithm, like `ln`) and `min max` (two arguments). Constants: `pi`, `e`. A formula
//! compiles to a postfix program ([`Formula`]) evaluated on a small stack over any dual-number
//! type ([`Formula::eval`]: Hessians and third derivatives), and to two flat register tapes
//! ([`crate::tape`]) for the value and gradient in one pass ([`Formula::value_and_gradient`]) and
//! the gradient alone ([`Formula::gradient`], the gradient flow's right-hand side). `abs`, `min`
//! and `max` follow the branch of the real part (their derivative is one-sided at a tie).
//!
//! The parser is recursive, so it bounds its nesting: at most [`MAX_NESTING`] levels of
//! parentheses, function calls, unary signs and exponents (`^` is right-associative) together.
//! Evaluation is a loop over the postfix program, never recursive, so any formula that parses
//! evaluates without deep recursion.

use std::cell::RefCell;
use std::fmt;

use num_dual::DualNum;

use crate::tape::{Outputs, Tape};

/// The deepest nesting a formula may have: 200 levels of parentheses, function calls, unary signs
/// and exponents together (`((x))` has two, `-sin(-x)` three, `2^2^x` two).
///
/// Why this value: hand-written formulas rarely nest beyond ten levels, and 200 keeps the
/// recursive parser (about five stack frames per level) far inside the smallest thread stack it
/// may run on; a formula nested 20,000 deep overflowed the stack before this limit.
pub const MAX_NESTING: usize = 200;

/// A parse error: where (1-based line and column inside the formula text) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line inside the formula text.
    pub line: usize,
    /// 1-based column (in characters) inside the formula text.
    pub column: usize,
    /// Byte offset inside the formula text.
    pub offset: usize,
    /// What the parser expected there.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: expected {}, found {}",
            self.line, self.column, self.expected, self.found
        )
    }
}

impl std::error::Error for ParseError {}

/// A one-argument function of the formula language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `exp`
    Exp,
    /// `ln` and `log` (natural logarithm)
    Ln,
    /// `sqrt`
    Sqrt,
    /// `abs`
    Abs,
    /// `sin`
    Sin,
    /// `cos`
    Cos,
    /// `tanh`
    Tanh,
    /// `sigmoid(x) = 1 / (1 + e^{-x})`
    Sigmoid,
    /// `softplus(x) = ln(1 + e^x)`
    Softplus,
}

/// One instruction of the postfix program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Const(f64),
    Var(usize),
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    PowI(i32),
    PowF(f64),
    Pow,
    Call(Function),
    Min,
    Max,
}

/// A compiled formula in the variables it was parsed with.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    source: String,
    ops: Vec<Op>,
    max_stack: usize,
    dim: usize,
    /// Value and gradient.
    tape: Tape,
    /// The gradient alone.
    gradient_tape: Tape,
}

/// Parses `source` as a formula in the variables `vars` (their order fixes the coordinates).
pub fn parse(source: &str, vars: &[String]) -> Result<Formula, ParseError> {
    let tokens = lex(source)?;
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        vars,
        ops: Vec::new(),
        depth: 0,
    };
    parser.expr()?;
    if parser.pos < parser.tokens.len() - 1 {
        return Err(parser.error_here("an operator (+ - * / ^) or the end of the formula"));
    }
    let mut depth = 0usize;
    let mut max_stack = 0usize;
    for op in &parser.ops {
        match op {
            Op::Const(_) | Op::Var(_) => depth += 1,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Min | Op::Max => depth -= 1,
            _ => {}
        }
        max_stack = max_stack.max(depth);
    }
    let dim = vars.len();
    Ok(Formula {
        source: source.to_string(),
        tape: Tape::compile(&parser.ops, dim, Outputs::ValueAndGradient),
        gradient_tape: Tape::compile(&parser.ops, dim, Outputs::Gradient),
        ops: parser.ops,
        max_stack,
        dim,
    })
}

impl Formula {
    /// The text the formula was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The number of variables.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Evaluates the formula at `vars` over any dual-number type (`f64` gives the value,
    /// `Dual64` a directional derivative, `HyperDual64` a second and `HyperHyperDual64` a third
    /// partial derivative).
    pub fn eval<T: DualNum<Primitive = f64> + Copy>(&self, vars: &[T]) -> T {
        let mut stack: Vec<T> = Vec::with_capacity(self.max_stack);
        for op in &self.ops {
            match *op {
                Op::Const(c) => stack.push(T::from(c)),
                Op::Var(i) => stack.push(vars[i]),
                Op::Neg => {
                    let a = stack.pop().expect("compiled formula");
                    stack.push(-a);
                }
                Op::PowI(n) => {
                    let a = stack.pop().expect("compiled formula");
                    stack.push(a.powi(n));
                }
                Op::PowF(p) => {
                    let a = stack.pop().expect("compiled formula");
                    stack.push(a.powf(p));
                }
                Op::Call(f) => {
                    let a = stack.pop().expect("compiled formula");
                    stack.push(apply(f, a));
                }
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Min | Op::Max => {
                    let b = stack.pop().expect("compiled formula");
                    let a = stack.pop().expect("compiled formula");
                    stack.push(match *op {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div => a / b,
                        Op::Pow => a.powd(b),
                        Op::Min => {
                            if b.re() < a.re() {
                                b
                            } else {
                                a
                            }
                        }
                        _ => {
                            if b.re() > a.re() {
                                b
                            } else {
                                a
                            }
                        }
                    });
                }
            }
        }
        stack.pop().expect("compiled formula")
    }

    /// Value and gradient from one pass over the compiled tape ([`crate::tape`]: the symbolic
    /// reverse sweep, with common subexpressions shared and constants folded). `scratch` holds
    /// the registers of tapes too large for the stack.
    pub fn value_and_gradient(&self, x: &[f64], grad: &mut [f64], scratch: &mut Scratch) -> f64 {
        self.tape.run_small(x, grad, &mut scratch.registers)
    }

    /// The gradient alone, from the gradient-only tape (values that only the formula's value
    /// needs, like `cos x` in `cos(x) + cos(y)`, are not computed). No allocation: small tapes
    /// keep their registers on the stack, larger ones in a per-thread buffer.
    pub fn gradient(&self, x: &[f64], grad: &mut [f64]) {
        if self.gradient_tape.fits_stack() {
            self.gradient_tape.run_small(x, grad, &mut Vec::new());
        } else {
            REGISTERS.with(|r| {
                self.gradient_tape.run(x, grad, &mut r.borrow_mut());
            });
        }
    }

    /// The postfix program (the tape's tests differentiate it with the interpreted sweep).
    #[cfg(test)]
    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The value-and-gradient tape.
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// The gradient-only tape.
    pub fn gradient_tape(&self) -> &Tape {
        &self.gradient_tape
    }
}

thread_local! {
    static REGISTERS: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Reusable registers for [`Formula::value_and_gradient`] (used by tapes too large for the
/// stack).
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    registers: Vec<f64>,
}

pub(crate) fn apply<T: DualNum<Primitive = f64> + Copy>(f: Function, a: T) -> T {
    match f {
        Function::Exp => a.exp(),
        Function::Ln => a.ln(),
        Function::Sqrt => a.sqrt(),
        Function::Abs => {
            if a.re() < 0.0 {
                -a
            } else {
                a
            }
        }
        Function::Sin => a.sin(),
        Function::Cos => a.cos(),
        Function::Tanh => a.tanh(),
        Function::Sigmoid => {
            if a.re() >= 0.0 {
                ((-a).exp() + 1.0).recip()
            } else {
                let e = a.exp();
                e / (e + 1.0)
            }
        }
        Function::Softplus => {
            if a.re() >= 0.0 {
                a + (-a).exp().ln_1p()
            } else {
                a.exp().ln_1p()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Sym(char),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    offset: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(x) => format!("the number {x}"),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Sym(c) => format!("`{c}`"),
        Tok::End => "the end of the formula".into(),
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

fn error_at(source: &str, offset: usize, expected: &str, found: String) -> ParseError {
    let (line, column) = line_column(source, offset);
    ParseError {
        line,
        column,
        offset,
        expected: expected.into(),
        found,
    }
}

fn lex(source: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = source[i..].chars().next().expect("in bounds");
        if c.is_whitespace() {
            i += c.len_utf8();
        } else if c.is_ascii_digit()
            || (c == '.' && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()))
        {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    while j < bytes.len() && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text = &source[start..i];
            let value: f64 = text
                .parse()
                .map_err(|_| error_at(source, start, "a number", format!("`{text}`")))?;
            out.push(Token {
                tok: Tok::Num(value),
                offset: start,
            });
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len() {
                let ch = source[i..].chars().next().expect("in bounds");
                if ch.is_alphanumeric() || ch == '_' {
                    i += ch.len_utf8();
                } else {
                    break;
                }
            }
            out.push(Token {
                tok: Tok::Name(source[start..i].to_string()),
                offset: start,
            });
        } else if "+-*/^(),".contains(c) {
            out.push(Token {
                tok: Tok::Sym(c),
                offset: i,
            });
            i += 1;
        } else {
            return Err(error_at(
                source,
                i,
                "a number, a variable, a function, an operator (+ - * / ^) or a parenthesis",
                format!("`{c}`"),
            ));
        }
    }
    out.push(Token {
        tok: Tok::End,
        offset: source.len(),
    });
    Ok(out)
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    vars: &'a [String],
    ops: Vec<Op>,
    /// Nesting levels entered so far (see [`MAX_NESTING`]).
    depth: usize,
}

const OPERAND: &str = "a number, a variable, a function call or `(`";

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn error_here(&self, expected: &str) -> ParseError {
        let t = &self.tokens[self.pos];
        error_at(self.source, t.offset, expected, describe(&t.tok))
    }

    fn expect_sym(&mut self, c: char, expected: &str) -> Result<(), ParseError> {
        if *self.peek() == Tok::Sym(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here(expected))
        }
    }

    fn expr(&mut self) -> Result<(), ParseError> {
        self.term()?;
        loop {
            match self.peek() {
                Tok::Sym('+') => {
                    self.pos += 1;
                    self.term()?;
                    self.ops.push(Op::Add);
                }
                Tok::Sym('-') => {
                    self.pos += 1;
                    self.term()?;
                    self.ops.push(Op::Sub);
                }
                _ => return Ok(()),
            }
        }
    }

    fn term(&mut self) -> Result<(), ParseError> {
        self.unary()?;
        loop {
            match self.peek() {
                Tok::Sym('*') => {
                    self.pos += 1;
                    self.unary()?;
                    self.ops.push(Op::Mul);
                }
                Tok::Sym('/') => {
                    self.pos += 1;
                    self.unary()?;
                    self.ops.push(Op::Div);
                }
                _ => return Ok(()),
            }
        }
    }

    /// Every recursion of the grammar passes through here (signs, parentheses, function
    /// arguments, exponents), so the nesting is counted here.
    fn unary(&mut self) -> Result<(), ParseError> {
        if self.depth > MAX_NESTING {
            // the token that opened the level one too deep: `(`, a sign, `^`
            let t = &self.tokens[self.pos.saturating_sub(1)];
            return Err(error_at(
                self.source,
                t.offset,
                &format!(
                    "at most {MAX_NESTING} levels of nesting (parentheses, function calls, signs and exponents together; MAX_NESTING)"
                ),
                format!("level {} at {}", self.depth, describe(&t.tok)),
            ));
        }
        self.depth += 1;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Sym('-') => {
                self.pos += 1;
                self.unary()?;
                if let Some(Op::Const(c)) = self.ops.last_mut() {
                    *c = -*c;
                } else {
                    self.ops.push(Op::Neg);
                }
                Ok(())
            }
            Tok::Sym('+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<(), ParseError> {
        self.atom()?;
        if *self.peek() == Tok::Sym('^') {
            self.pos += 1;
            let mark = self.ops.len();
            self.unary()?;
            // a constant exponent compiles to powi / powf (exact at negative bases)
            if self.ops.len() == mark + 1 {
                if let Op::Const(p) = self.ops[mark] {
                    self.ops.pop();
                    if p.fract() == 0.0 && p.abs() <= i32::MAX as f64 {
                        self.ops.push(Op::PowI(p as i32));
                    } else {
                        self.ops.push(Op::PowF(p));
                    }
                    return Ok(());
                }
            }
            self.ops.push(Op::Pow);
        }
        Ok(())
    }

    fn atom(&mut self) -> Result<(), ParseError> {
        let token = self.tokens[self.pos].clone();
        match token.tok {
            Tok::Num(x) => {
                self.pos += 1;
                self.ops.push(Op::Const(x));
                Ok(())
            }
            Tok::Sym('(') => {
                self.pos += 1;
                self.expr()?;
                self.expect_sym(')', "`)` or an operator (+ - * / ^)")
            }
            Tok::Name(name) => {
                self.pos += 1;
                if let Some(i) = self.vars.iter().position(|v| *v == name) {
                    if *self.peek() == Tok::Sym('(') {
                        return Err(
                            self.error_here(&format!("an operator after the variable `{name}`"))
                        );
                    }
                    self.ops.push(Op::Var(i));
                    return Ok(());
                }
                let function = match name.as_str() {
                    "pi" => {
                        self.ops.push(Op::Const(std::f64::consts::PI));
                        return Ok(());
                    }
                    "e" => {
                        self.ops.push(Op::Const(std::f64::consts::E));
                        return Ok(());
                    }
                    "exp" => Some(Function::Exp),
                    "ln" | "log" => Some(Function::Ln),
                    "sqrt" => Some(Function::Sqrt),
                    "abs" => Some(Function::Abs),
                    "sin" => Some(Function::Sin),
                    "cos" => Some(Function::Cos),
                    "tanh" => Some(Function::Tanh),
                    "sigmoid" => Some(Function::Sigmoid),
                    "softplus" => Some(Function::Softplus),
                    "min" | "max" => None,
                    _ => {
                        let known = if self.vars.is_empty() {
                            String::new()
                        } else {
                            format!("a variable ({}), ", self.vars.join(", "))
                        };
                        return Err(error_at(
                            self.source,
                            token.offset,
                            &format!("{known}a function (exp ln log sqrt abs sin cos tanh sigmoid softplus min max) or a constant (pi, e)"),
                            format!("the unknown name `{name}`"),
                        ));
                    }
                };
                self.expect_sym('(', &format!("`(` after the function `{name}`"))?;
                self.expr()?;
                match function {
                    Some(f) => {
                        self.expect_sym(
                            ')',
                            &format!("`)` closing `{name}(` (it takes one argument)"),
                        )?;
                        self.ops.push(Op::Call(f));
                    }
                    None => {
                        self.expect_sym(',', &format!("`,` (`{name}` takes two arguments)"))?;
                        self.expr()?;
                        self.expect_sym(
                            ')',
                            &format!("`)` closing `{name}(` (it takes two arguments)"),
                        )?;
                        self.ops.push(if name == "min" { Op::Min } else { Op::Max });
                    }
                }
                Ok(())
            }
            _ => Err(self.error_here(OPERAND)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::{Dual64, HyperDual64, HyperHyperDual64};

    fn vars(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn value(src: &str, x: &[f64]) -> f64 {
        parse(src, &vars(&["x", "y"])).unwrap().eval(x)
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(value("1 + 2 * 3", &[0.0, 0.0]), 7.0);
        assert_eq!(value("2 ^ 3 ^ 2", &[0.0, 0.0]), 512.0);
        assert_eq!(value("-x^2", &[3.0, 0.0]), -9.0);
        assert_eq!(value("(1 - 2) - 3", &[0.0, 0.0]), -4.0);
        assert_eq!(value("8 / 4 / 2", &[0.0, 0.0]), 1.0);
        assert_eq!(value("2^-1", &[0.0, 0.0]), 0.5);
        assert!((value("e^x - exp(x)", &[1.3, 0.0])).abs() < 1e-14);
        assert!((value("sin(pi/2) + cos(0) + log(e) + ln(1)", &[0.0, 0.0]) - 3.0).abs() < 1e-15);
        assert_eq!(value("min(x, y) + max(x, y) + abs(-2)", &[1.0, 5.0]), 8.0);
        assert!(
            (value("sigmoid(0) + softplus(0) - tanh(0)", &[0.0, 0.0]) - (0.5 + 2f64.ln())).abs()
                < 1e-15
        );
        assert_eq!(value("1.5e2 + .5", &[0.0, 0.0]), 150.5);
        assert_eq!(value("x^y", &[2.0, 3.0]), 8.0);
    }

    #[test]
    fn errors_name_line_column_and_expectation() {
        let v = vars(&["x", "y"]);
        let e = parse("x + * y", &v).unwrap_err();
        assert_eq!((e.line, e.column), (1, 5));
        assert!(e.expected.contains("a number"), "{e}");
        let e = parse("(x + y", &v).unwrap_err();
        assert_eq!((e.line, e.column), (1, 7));
        assert!(e.expected.contains("`)`") && e.found.contains("end"), "{e}");
        let e = parse("x +\n  foo(y)", &v).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(
            e.found.contains("foo") && e.expected.contains("variable (x, y)"),
            "{e}"
        );
        let e = parse("x # 2", &v).unwrap_err();
        assert_eq!((e.line, e.column), (1, 3));
        let e = parse("max(x)", &v).unwrap_err();
        assert!(e.expected.contains("two arguments"), "{e}");
        let e = parse("x y", &v).unwrap_err();
        assert_eq!(e.column, 3);
        assert!(e.expected.contains("operator"), "{e}");
        assert!(parse("", &v).is_err());
    }

    #[test]
    fn nesting_is_bounded_with_line_column_and_limit() {
        let v = vars(&["x"]);
        let nested = |depth: usize, open: &str, close: &str| {
            format!("{}x{}", open.repeat(depth), close.repeat(depth))
        };
        // the tester's formula: 20,000 parentheses overflowed the stack
        let e = parse(&nested(20_000, "(", ")"), &v).unwrap_err();
        assert_eq!((e.line, e.column), (1, 201));
        assert!(e.expected.contains("at most 200 levels of nesting"), "{e}");
        assert!(e.found.contains("level 201 at `(`"), "{e}");
        // exactly the limit parses and evaluates (iteratively) without overflow
        for (open, close) in [("(", ")"), ("-", ""), ("sin(", ")"), ("2^", "")] {
            let at_limit = nested(MAX_NESTING, open, close);
            let f = parse(&at_limit, &v).unwrap_or_else(|e| panic!("{open}: {e}"));
            let x = f.eval(&[0.5]);
            let mut g = [0.0];
            let y = f.value_and_gradient(&[0.5], &mut g, &mut Scratch::default());
            assert!(x == y || (x.is_nan() && y.is_nan()), "{open}: {x} {y}");
            let _ = f.eval(&[HyperHyperDual64::from_re(0.5)]);
            let e = parse(&nested(MAX_NESTING + 1, open, close), &v).unwrap_err();
            assert!(e.expected.contains("MAX_NESTING"), "{open}: {e}");
        }
        // unary-minus chains and nested calls on later lines name their line and column
        let e = parse(&format!("x +\n  {}x", "-".repeat(5_000)), &v).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3 + MAX_NESTING));
        let e = parse(&nested(1_000, "max(x, ", ")"), &v).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.expected.contains("200"), "{e}");
        // a long flat formula is not nesting
        let flat = vec!["x"; 100_000].join(" + ");
        assert_eq!(parse(&flat, &v).unwrap().eval(&[1.0]), 100_000.0);
    }

    #[test]
    fn the_nesting_limit_fits_a_small_stack() {
        let v = vars(&["x", "y"]);
        let deep = format!(
            "{}x{}",
            "sin(-(".repeat(MAX_NESTING / 3),
            "))".repeat(MAX_NESTING / 3)
        );
        let ok = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || parse(&deep, &v).map(|f| f.eval(&[0.1f64, 0.2])))
            .unwrap()
            .join()
            .unwrap();
        assert!(ok.unwrap().is_finite());
    }

    #[test]
    fn dual_derivatives_match_closed_forms() {
        // f = x^3 y + sin(x y) + sigmoid(x) + softplus(y) + sqrt(x^2 + 1)
        let f = parse(
            "x^3*y + sin(x*y) + sigmoid(x) + softplus(y) + sqrt(x^2 + 1)",
            &vars(&["x", "y"]),
        )
        .unwrap();
        let (x, y) = (0.7, -1.1);
        let s = 1.0 / (1.0 + (-x).exp());
        let sy = 1.0 / (1.0 + (-y).exp());
        let r = (x * x + 1.0f64).sqrt();
        let fx = 3.0 * x * x * y + y * (x * y).cos() + s * (1.0 - s) + x / r;
        let fy = x.powi(3) + x * (x * y).cos() + sy;
        let fxx =
            6.0 * x * y - y * y * (x * y).sin() + s * (1.0 - s) * (1.0 - 2.0 * s) + 1.0 / r.powi(3);
        let fxy = 3.0 * x * x + (x * y).cos() - x * y * (x * y).sin();
        let fyy = -x * x * (x * y).sin() + sy * (1.0 - sy);
        let fxxy = 6.0 * x - 2.0 * y * (x * y).sin() - x * y * y * (x * y).cos();
        let gx = f.eval(&[Dual64::new(x, 1.0), Dual64::new(y, 0.0)]).eps;
        let gy = f.eval(&[Dual64::new(x, 0.0), Dual64::new(y, 1.0)]).eps;
        assert!((gx - fx).abs() < 1e-13 && (gy - fy).abs() < 1e-13);
        let h = |a: usize, b: usize| {
            let v: Vec<HyperDual64> = (0..2)
                .map(|i| {
                    HyperDual64::new(
                        [x, y][i],
                        if i == a { 1.0 } else { 0.0 },
                        if i == b { 1.0 } else { 0.0 },
                        0.0,
                    )
                })
                .collect();
            f.eval(&v).eps1eps2
        };
        assert!(
            (h(0, 0) - fxx).abs() < 1e-12
                && (h(0, 1) - fxy).abs() < 1e-12
                && (h(1, 1) - fyy).abs() < 1e-12
        );
        let t: Vec<HyperHyperDual64> = vec![
            HyperHyperDual64::new(x, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            HyperHyperDual64::new(y, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
        ];
        assert!((f.eval(&t).eps1eps2eps3 - fxxy).abs() < 1e-12);
        let mut g = [0.0; 2];
        let v = f.value_and_gradient(&[x, y], &mut g, &mut Scratch::default());
        assert!((v - f.eval(&[x, y])).abs() < 1e-15);
        assert!(
            (g[0] - fx).abs() < 1e-13 && (g[1] - fy).abs() < 1e-13,
            "{g:?}"
        );
    }

    #[test]
    fn reverse_mode_handles_every_operation() {
        let v = vars(&["x", "y"]);
        for src in [
            "x / y - y",
            "x^y",
            "x^2.5 + y^-2",
            "min(x, y) * max(x, 2*y)",
            "abs(y) + tanh(x) + exp(-x)",
            "-(x) * cos(y) + ln(x)",
        ] {
            let f = parse(src, &v).unwrap();
            let p = [1.3, -0.6];
            let pos = [1.3, 0.6];
            for pt in [p, pos] {
                if src == "x^y" && pt[1] < 0.0 {
                    continue;
                }
                let mut g = [0.0; 2];
                f.value_and_gradient(&pt, &mut g, &mut Scratch::default());
                for i in 0..2 {
                    let d: Vec<Dual64> = (0..2)
                        .map(|j| Dual64::new(pt[j], if i == j { 1.0 } else { 0.0 }))
                        .collect();
                    let exact = f.eval(&d).eps;
                    assert!(
                        (g[i] - exact).abs() < 1e-12,
                        "{src} at {pt:?}: {g:?} vs {exact}"
                    );
                }
            }
        }
    }
}
