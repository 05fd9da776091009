//! Formulas compiled to flat instruction tapes: straight-line register programs that compute a
//! formula's value and exact gradient in one forward pass, with no tree walking, no operand stack
//! and no allocation per evaluation.
//!
//! A [`Tape`] is built from the postfix program of a [`Formula`](crate::expr::Formula) in three
//! steps:
//!
//! 1. **Forward graph.** Every instruction becomes a node of a hash-consed graph, so a repeated
//!    subexpression (`cos(x)` written twice) is one node (common subexpressions), and a node whose
//!    operands are all constants is folded into a constant with the very operation the tape would
//!    run (bit-for-bit the same value).
//! 2. **Symbolic reverse sweep.** The adjoints of reverse-mode differentiation are built as more
//!    nodes of the same graph, one accumulation per postfix position in the order the interpreted
//!    reverse sweep ran them, so the gradient is the same sum of the same products in the same
//!    order: equal to the interpreted sweep's value. Derivative factors share nodes with the
//!    forward pass (`d sin(x) = cos(x)` reuses a `cos(x)` the formula already computes).
//! 3. **Dead-code elimination and register allocation.** Only the nodes the requested outputs
//!    (value and gradient, or the gradient alone) depend on are kept; each gets one register
//!    (static single assignment). Variables and constants are preloaded registers, so the tape
//!    holds only arithmetic.
//!
//! The gradient-only tape of `cos(x) + cos(y)` computes `−sin x` and `−sin y` and never a cosine:
//! that is what the gradient flow's right-hand side runs.
//!
//! **Equality with the interpreted reverse sweep.** Values equal [`Formula::eval`]'s over `f64`
//! bit for bit. Gradients equal the reference reverse sweep's as numbers (`==`): the only
//! differences are the sign of a zero (the sweep added contributions onto `+0.0`, the tape starts
//! from the first contribution) — `-0.0 == 0.0`. Where the sweep skipped an adjoint that was zero
//! at run time, the tape guards the contribution (`w == 0 ? 0 : w·f`) so that an infinite or NaN
//! local derivative behind a zero adjoint (the branch `min`/`max` did not take, `0 · ln(0)`)
//! gives `0` as before rather than NaN; the guard disappears where `w` is a non-zero constant.
//!
//! [`Formula::eval`]: crate::expr::Formula::eval

use std::collections::HashMap;

use crate::expr::{apply, Function, Op};

/// One node of the hash-consed graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    /// A constant, by its bits.
    Const(u64),
    Var(u32),
    Neg(u32),
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    PowI(u32, i32),
    /// Exponent by its bits.
    PowF(u32, u64),
    Pow(u32, u32),
    Call(Function, u32),
    /// `if a < b { t } else { f }`.
    Less(u32, u32, u32, u32),
    /// `if w == 0 { 0 } else { c }`: a contribution `c` of the adjoint `w`, zero where the
    /// adjoint is (the interpreted sweep skipped zero adjoints).
    Guard(u32, u32),
}

/// One instruction of a tape: operands are register indices; the result goes to the next
/// register.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Instr {
    Neg(u32),
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    PowI(u32, i32),
    PowF(u32, f64),
    Pow(u32, u32),
    Exp(u32),
    Ln(u32),
    Sqrt(u32),
    Abs(u32),
    Sin(u32),
    Cos(u32),
    Tanh(u32),
    Sigmoid(u32),
    Softplus(u32),
    Less(u32, u32, u32, u32),
    Guard(u32, u32),
}

/// Runs one node on numbers (constant folding uses the same code as the tape).
fn compute(node: Node, r: impl Fn(u32) -> f64) -> f64 {
    match node {
        Node::Const(c) => f64::from_bits(c),
        Node::Var(_) => unreachable!("variables are not computed"),
        Node::Neg(a) => -r(a),
        Node::Add(a, b) => r(a) + r(b),
        Node::Sub(a, b) => r(a) - r(b),
        Node::Mul(a, b) => r(a) * r(b),
        Node::Div(a, b) => r(a) / r(b),
        Node::PowI(a, p) => r(a).powi(p),
        Node::PowF(a, p) => r(a).powf(f64::from_bits(p)),
        Node::Pow(a, b) => r(a).powf(r(b)),
        Node::Call(f, a) => apply(f, r(a)),
        Node::Less(a, b, t, f) => {
            if r(a) < r(b) {
                r(t)
            } else {
                r(f)
            }
        }
        Node::Guard(w, c) => {
            if r(w) == 0.0 {
                0.0
            } else {
                r(c)
            }
        }
    }
}

/// The graph under construction.
#[derive(Default)]
struct Graph {
    nodes: Vec<Node>,
    index: HashMap<Node, u32>,
}

impl Graph {
    fn constant_of(&self, id: u32) -> Option<f64> {
        match self.nodes[id as usize] {
            Node::Const(c) => Some(f64::from_bits(c)),
            _ => None,
        }
    }

    fn constant(&mut self, c: f64) -> u32 {
        self.intern(Node::Const(c.to_bits()))
    }

    fn intern(&mut self, node: Node) -> u32 {
        if let Some(&id) = self.index.get(&node) {
            return id;
        }
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes");
        self.nodes.push(node);
        self.index.insert(node, id);
        id
    }

    /// Adds `node` after exact simplifications: constant folding (same operation, same bits)
    /// and identities that hold bit for bit (`1·z = z`, `−(−z) = z`, `z^1 = z`, `z^2 = z·z`).
    fn add(&mut self, node: Node) -> u32 {
        let c = |id: u32| self.constant_of(id);
        let operands: &[u32] = match &node {
            Node::Const(_) | Node::Var(_) => return self.intern(node),
            Node::Neg(a) | Node::PowI(a, _) | Node::PowF(a, _) | Node::Call(_, a) => &[*a][..],
            Node::Add(a, b)
            | Node::Sub(a, b)
            | Node::Mul(a, b)
            | Node::Div(a, b)
            | Node::Pow(a, b)
            | Node::Guard(a, b) => &[*a, *b][..],
            Node::Less(a, b, t, f) => {
                if let (Some(x), Some(y)) = (c(*a), c(*b)) {
                    return if x < y { *t } else { *f };
                }
                if t == f {
                    return *t;
                }
                &[*a, *b, *t, *f][..]
            }
        };
        if operands.iter().all(|&o| c(o).is_some()) {
            let v = compute(node, |o| c(o).expect("constant operand"));
            return self.constant(v);
        }
        match node {
            Node::Mul(a, b) if c(a) == Some(1.0) => return b,
            Node::Mul(a, b) if c(b) == Some(1.0) => return a,
            Node::Neg(a) => {
                if let Node::Neg(inner) = self.nodes[a as usize] {
                    return inner;
                }
            }
            Node::PowI(a, 1) => return a,
            Node::PowI(a, 2) => return self.add(Node::Mul(a, a)),
            // no guard where w cannot be zero, or where c = w·k or w/k with a constant k that
            // keeps 0 at 0 (the guard's 0 and c differ at most in the sign of zero)
            Node::Guard(w, e) => {
                if c(w).is_some_and(|w| w != 0.0) {
                    return e;
                }
                match self.nodes[e as usize] {
                    Node::Mul(p, k) if p == w && c(k).is_some_and(f64::is_finite) => return e,
                    Node::Div(p, k) if p == w && c(k).is_some_and(|k| k != 0.0 && !k.is_nan()) => {
                        return e
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        self.intern(node)
    }
}

/// A formula's value and gradient as straight-line register code (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Tape {
    /// The initial register file: variables (overwritten per evaluation), then constants.
    init: Vec<f64>,
    dim: usize,
    code: Vec<Instr>,
    /// The value's register, if the tape computes it.
    value: Option<u32>,
    /// The gradient's registers, one per variable.
    gradient: Vec<u32>,
}

/// What a tape computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outputs {
    ValueAndGradient,
    Gradient,
}

/// Registers a tape evaluation may keep on the stack; larger tapes use a heap buffer.
const STACK_REGISTERS: usize = 48;

impl Tape {
    /// Compiles a postfix program in `dim` variables.
    pub(crate) fn compile(ops: &[Op], dim: usize, outputs: Outputs) -> Tape {
        let mut g = Graph::default();
        // variables first, so that variable i is node i and register i
        for i in 0..dim {
            g.intern(Node::Var(i as u32));
        }
        // forward: the node of every postfix position and the positions of its operands
        let n = ops.len();
        let mut node_of = Vec::with_capacity(n);
        let mut args = Vec::with_capacity(n);
        let mut stack: Vec<usize> = Vec::new();
        for op in ops {
            let (node, a, b) = match *op {
                Op::Const(c) => (g.constant(c), usize::MAX, usize::MAX),
                Op::Var(i) => (i as u32, usize::MAX, usize::MAX),
                Op::Neg | Op::PowI(_) | Op::PowF(_) | Op::Call(_) => {
                    let a = stack.pop().expect("compiled formula");
                    let x = node_of[a];
                    let node = match *op {
                        Op::Neg => Node::Neg(x),
                        Op::PowI(p) => Node::PowI(x, p),
                        Op::PowF(p) => Node::PowF(x, p.to_bits()),
                        Op::Call(f) => Node::Call(f, x),
                        _ => unreachable!(),
                    };
                    (g.add(node), a, usize::MAX)
                }
                _ => {
                    let b = stack.pop().expect("compiled formula");
                    let a = stack.pop().expect("compiled formula");
                    let (x, y) = (node_of[a], node_of[b]);
                    let node = match *op {
                        Op::Add => Node::Add(x, y),
                        Op::Sub => Node::Sub(x, y),
                        Op::Mul => Node::Mul(x, y),
                        Op::Div => Node::Div(x, y),
                        Op::Pow => Node::Pow(x, y),
                        // eval's branches: min takes b if b < a, max takes b if a < b
                        Op::Min => Node::Less(y, x, y, x),
                        _ => Node::Less(x, y, y, x),
                    };
                    (g.add(node), a, b)
                }
            };
            node_of.push(node);
            args.push((a, b));
            stack.push(node_of.len() - 1);
        }
        let value = node_of[n - 1];
        // reverse: adjoints per postfix position, accumulated in the interpreted sweep's order
        let mut adj: Vec<Option<u32>> = vec![None; n];
        let mut grad: Vec<Option<u32>> = vec![None; dim];
        adj[n - 1] = Some(g.constant(1.0));
        let zero = g.constant(0.0);
        let acc = |g: &mut Graph, slot: &mut Option<u32>, c: u32| {
            *slot = Some(match *slot {
                None => c,
                Some(p) => g.add(Node::Add(p, c)),
            });
        };
        let dec = |g: &mut Graph, slot: &mut Option<u32>, c: u32| {
            *slot = Some(match *slot {
                None => g.add(Node::Neg(c)),
                Some(p) => g.add(Node::Sub(p, c)),
            });
        };
        for k in (0..n).rev() {
            let Some(w) = adj[k] else { continue };
            if g.constant_of(w) == Some(0.0) {
                continue;
            }
            let (a, b) = args[k];
            let v = node_of[k];
            let xa = if a == usize::MAX { 0 } else { node_of[a] };
            let xb = if b == usize::MAX { 0 } else { node_of[b] };
            match ops[k] {
                Op::Const(_) => {}
                Op::Var(i) => acc(&mut g, &mut grad[i], w),
                Op::Neg => dec(&mut g, &mut adj[a], w),
                Op::PowI(p) => {
                    let wp = g.constant(p as f64);
                    let wp = g.add(Node::Mul(w, wp));
                    let d = g.add(Node::PowI(xa, p - 1));
                    let c = g.add(Node::Mul(wp, d));
                    let c = g.add(Node::Guard(w, c));
                    acc(&mut g, &mut adj[a], c);
                }
                Op::PowF(p) => {
                    let wp = g.constant(p);
                    let wp = g.add(Node::Mul(w, wp));
                    let d = g.add(Node::PowF(xa, (p - 1.0).to_bits()));
                    let c = g.add(Node::Mul(wp, d));
                    let c = g.add(Node::Guard(w, c));
                    acc(&mut g, &mut adj[a], c);
                }
                Op::Call(Function::Abs) => {
                    let minus = g.add(Node::Neg(w));
                    let c = g.add(Node::Less(xa, zero, minus, w));
                    acc(&mut g, &mut adj[a], c);
                }
                Op::Call(f) => {
                    let d = match f {
                        Function::Exp => v,
                        Function::Ln => {
                            let one = g.constant(1.0);
                            g.add(Node::Div(one, xa))
                        }
                        Function::Sqrt => {
                            let half = g.constant(0.5);
                            g.add(Node::Div(half, v))
                        }
                        Function::Sin => g.add(Node::Call(Function::Cos, xa)),
                        Function::Cos => {
                            let s = g.add(Node::Call(Function::Sin, xa));
                            g.add(Node::Neg(s))
                        }
                        Function::Tanh => {
                            let one = g.constant(1.0);
                            let vv = g.add(Node::Mul(v, v));
                            g.add(Node::Sub(one, vv))
                        }
                        Function::Sigmoid => {
                            let one = g.constant(1.0);
                            let m = g.add(Node::Sub(one, v));
                            g.add(Node::Mul(v, m))
                        }
                        Function::Softplus => g.add(Node::Call(Function::Sigmoid, xa)),
                        Function::Abs => unreachable!("handled above"),
                    };
                    let c = g.add(Node::Mul(w, d));
                    let c = g.add(Node::Guard(w, c));
                    acc(&mut g, &mut adj[a], c);
                }
                Op::Add => {
                    acc(&mut g, &mut adj[a], w);
                    acc(&mut g, &mut adj[b], w);
                }
                Op::Sub => {
                    acc(&mut g, &mut adj[a], w);
                    dec(&mut g, &mut adj[b], w);
                }
                Op::Mul => {
                    let ca = g.add(Node::Mul(w, xb));
                    let ca = g.add(Node::Guard(w, ca));
                    acc(&mut g, &mut adj[a], ca);
                    let cb = g.add(Node::Mul(w, xa));
                    let cb = g.add(Node::Guard(w, cb));
                    acc(&mut g, &mut adj[b], cb);
                }
                Op::Div => {
                    let ca = g.add(Node::Div(w, xb));
                    let ca = g.add(Node::Guard(w, ca));
                    acc(&mut g, &mut adj[a], ca);
                    let wv = g.add(Node::Mul(w, v));
                    let cb = g.add(Node::Div(wv, xb));
                    let cb = g.add(Node::Guard(w, cb));
                    dec(&mut g, &mut adj[b], cb);
                }
                Op::Pow => {
                    let one = g.constant(1.0);
                    let wb = g.add(Node::Mul(w, xb));
                    let e = g.add(Node::Sub(xb, one));
                    let d = g.add(Node::Pow(xa, e));
                    let ca = g.add(Node::Mul(wb, d));
                    let ca = g.add(Node::Guard(w, ca));
                    acc(&mut g, &mut adj[a], ca);
                    // the sweep adds w·v·ln(a) only where a > 0
                    let wv = g.add(Node::Mul(w, v));
                    let ln = g.add(Node::Call(Function::Ln, xa));
                    let cb = g.add(Node::Mul(wv, ln));
                    let cb = g.add(Node::Guard(w, cb));
                    let cb = g.add(Node::Less(zero, xa, cb, zero));
                    acc(&mut g, &mut adj[b], cb);
                }
                Op::Min | Op::Max => {
                    // min takes b where b < a, max where a < b
                    let (l, r) = if matches!(ops[k], Op::Min) {
                        (xb, xa)
                    } else {
                        (xa, xb)
                    };
                    let cb = g.add(Node::Less(l, r, w, zero));
                    acc(&mut g, &mut adj[b], cb);
                    let ca = g.add(Node::Less(l, r, zero, w));
                    acc(&mut g, &mut adj[a], ca);
                }
            }
        }
        let gradient: Vec<u32> = grad.iter().map(|s| s.unwrap_or(zero)).collect();
        let value = match outputs {
            Outputs::ValueAndGradient => Some(value),
            Outputs::Gradient => None,
        };
        Self::emit(&g, dim, value, &gradient)
    }

    /// Keeps the nodes the outputs need and numbers registers: variables, constants, code.
    fn emit(g: &Graph, dim: usize, value: Option<u32>, gradient: &[u32]) -> Tape {
        let count = g.nodes.len();
        let mut live = vec![false; count];
        for &o in value.iter().chain(gradient) {
            live[o as usize] = true;
        }
        for id in (0..count).rev() {
            if !live[id] {
                continue;
            }
            let mut mark = |o: u32| live[o as usize] = true;
            match g.nodes[id] {
                Node::Const(_) | Node::Var(_) => {}
                Node::Neg(a) | Node::PowI(a, _) | Node::PowF(a, _) | Node::Call(_, a) => mark(a),
                Node::Add(a, b)
                | Node::Sub(a, b)
                | Node::Mul(a, b)
                | Node::Div(a, b)
                | Node::Pow(a, b)
                | Node::Guard(a, b) => {
                    mark(a);
                    mark(b);
                }
                Node::Less(a, b, t, f) => {
                    mark(a);
                    mark(b);
                    mark(t);
                    mark(f);
                }
            }
        }
        let mut reg = vec![u32::MAX; count];
        let mut init = vec![0.0; dim];
        for (id, node) in g.nodes.iter().enumerate() {
            match *node {
                Node::Var(i) => reg[id] = i,
                Node::Const(c) if live[id] => {
                    reg[id] = init.len() as u32;
                    init.push(f64::from_bits(c));
                }
                _ => {}
            }
        }
        let mut code = Vec::new();
        for (id, node) in g.nodes.iter().enumerate() {
            if !live[id] || matches!(node, Node::Const(_) | Node::Var(_)) {
                continue;
            }
            let r = |o: u32| reg[o as usize];
            let instr = match *node {
                Node::Const(_) | Node::Var(_) => unreachable!(),
                Node::Neg(a) => Instr::Neg(r(a)),
                Node::Add(a, b) => Instr::Add(r(a), r(b)),
                Node::Sub(a, b) => Instr::Sub(r(a), r(b)),
                Node::Mul(a, b) => Instr::Mul(r(a), r(b)),
                Node::Div(a, b) => Instr::Div(r(a), r(b)),
                Node::PowI(a, p) => Instr::PowI(r(a), p),
                Node::PowF(a, p) => Instr::PowF(r(a), f64::from_bits(p)),
                Node::Pow(a, b) => Instr::Pow(r(a), r(b)),
                Node::Call(f, a) => {
                    let a = r(a);
                    match f {
                        Function::Exp => Instr::Exp(a),
                        Function::Ln => Instr::Ln(a),
                        Function::Sqrt => Instr::Sqrt(a),
                        Function::Abs => Instr::Abs(a),
                        Function::Sin => Instr::Sin(a),
                        Function::Cos => Instr::Cos(a),
                        Function::Tanh => Instr::Tanh(a),
                        Function::Sigmoid => Instr::Sigmoid(a),
                        Function::Softplus => Instr::Softplus(a),
                    }
                }
                Node::Less(a, b, t, f) => Instr::Less(r(a), r(b), r(t), r(f)),
                Node::Guard(a, b) => Instr::Guard(r(a), r(b)),
            };
            reg[id] = (init.len() + code.len()) as u32;
            code.push(instr);
        }
        Tape {
            dim,
            value: value.map(|v| reg[v as usize]),
            gradient: gradient.iter().map(|&o| reg[o as usize]).collect(),
            init,
            code,
        }
    }

    /// The number of instructions (arithmetic and function calls; variables and constants are
    /// preloaded registers and take none).
    pub fn len(&self) -> usize {
        self.code.len()
    }

    /// Whether the tape has no instructions (the outputs are variables or constants).
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// The number of registers one evaluation uses.
    pub fn registers(&self) -> usize {
        self.init.len() + self.code.len()
    }

    /// Runs the tape at `x`, writes the gradient into `grad` and returns the value (NaN for a
    /// gradient-only tape). `regs` is the register file (any length; resized if short).
    pub fn run(&self, x: &[f64], grad: &mut [f64], regs: &mut Vec<f64>) -> f64 {
        let n = self.registers();
        if regs.len() < n {
            regs.resize(n, 0.0);
        }
        self.run_in(x, grad, &mut regs[..n])
    }

    /// [`Tape::run`] with the register file on the stack when the tape is small (the flow's
    /// right-hand side: no allocation, no thread-local look-up), else in `heap`.
    pub fn run_small(&self, x: &[f64], grad: &mut [f64], heap: &mut Vec<f64>) -> f64 {
        let n = self.registers();
        if n <= 16 {
            let mut regs = [0.0; 16];
            self.run_in(x, grad, &mut regs[..n])
        } else if n <= STACK_REGISTERS {
            let mut regs = [0.0; STACK_REGISTERS];
            self.run_in(x, grad, &mut regs[..n])
        } else {
            self.run(x, grad, heap)
        }
    }

    /// Whether [`Tape::run_small`] keeps the registers on the stack.
    pub fn fits_stack(&self) -> bool {
        self.registers() <= STACK_REGISTERS
    }

    fn run_in(&self, x: &[f64], grad: &mut [f64], regs: &mut [f64]) -> f64 {
        let (d, base) = (self.dim, self.init.len());
        regs[..d].copy_from_slice(&x[..d]);
        regs[d..base].copy_from_slice(&self.init[d..]);
        for (k, instr) in self.code.iter().enumerate() {
            let r = |i: u32| regs[i as usize];
            let v = match *instr {
                Instr::Neg(a) => -r(a),
                Instr::Add(a, b) => r(a) + r(b),
                Instr::Sub(a, b) => r(a) - r(b),
                Instr::Mul(a, b) => r(a) * r(b),
                Instr::Div(a, b) => r(a) / r(b),
                Instr::PowI(a, p) => r(a).powi(p),
                Instr::PowF(a, p) => r(a).powf(p),
                Instr::Pow(a, b) => r(a).powf(r(b)),
                Instr::Exp(a) => r(a).exp(),
                Instr::Ln(a) => r(a).ln(),
                Instr::Sqrt(a) => r(a).sqrt(),
                Instr::Abs(a) => apply(Function::Abs, r(a)),
                Instr::Sin(a) => r(a).sin(),
                Instr::Cos(a) => r(a).cos(),
                Instr::Tanh(a) => r(a).tanh(),
                Instr::Sigmoid(a) => apply(Function::Sigmoid, r(a)),
                Instr::Softplus(a) => apply(Function::Softplus, r(a)),
                Instr::Less(a, b, t, f) => {
                    if r(a) < r(b) {
                        r(t)
                    } else {
                        r(f)
                    }
                }
                Instr::Guard(w, c) => {
                    if r(w) == 0.0 {
                        0.0
                    } else {
                        r(c)
                    }
                }
            };
            regs[base + k] = v;
        }
        for (g, &o) in grad.iter_mut().zip(&self.gradient) {
            *g = regs[o as usize];
        }
        self.value.map_or(f64::NAN, |v| regs[v as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{parse, Formula, Scratch};
    use num_dual::Dual64;

    /// The interpreted reverse sweep the tape replaced (verbatim, on fresh buffers): the
    /// reference. Also returns whether every intermediate value was finite.
    fn reference(ops: &[Op], x: &[f64], grad: &mut [f64]) -> (f64, bool) {
        let n = ops.len();
        let mut values: Vec<f64> = Vec::new();
        let mut args: Vec<(usize, usize)> = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        for (k, op) in ops.iter().enumerate() {
            let (v, a, b) = match *op {
                Op::Const(c) => (c, usize::MAX, usize::MAX),
                Op::Var(i) => (x[i], usize::MAX, usize::MAX),
                Op::Neg | Op::PowI(_) | Op::PowF(_) | Op::Call(_) => {
                    let a = stack.pop().unwrap();
                    let xa = values[a];
                    let v = match *op {
                        Op::Neg => -xa,
                        Op::PowI(p) => xa.powi(p),
                        Op::PowF(p) => xa.powf(p),
                        Op::Call(f) => apply(f, xa),
                        _ => unreachable!(),
                    };
                    (v, a, usize::MAX)
                }
                _ => {
                    let b = stack.pop().unwrap();
                    let a = stack.pop().unwrap();
                    let (xa, xb) = (values[a], values[b]);
                    let v = match *op {
                        Op::Add => xa + xb,
                        Op::Sub => xa - xb,
                        Op::Mul => xa * xb,
                        Op::Div => xa / xb,
                        Op::Pow => xa.powf(xb),
                        Op::Min => xa.min(xb),
                        _ => xa.max(xb),
                    };
                    (v, a, b)
                }
            };
            values.push(v);
            args.push((a, b));
            stack.push(k);
        }
        let mut adjoints = vec![0.0; n];
        adjoints[n - 1] = 1.0;
        grad.iter_mut().for_each(|g| *g = 0.0);
        for k in (0..n).rev() {
            let w = adjoints[k];
            if w == 0.0 {
                continue;
            }
            let (a, b) = args[k];
            let v = values[k];
            match ops[k] {
                Op::Const(_) => {}
                Op::Var(i) => grad[i] += w,
                Op::Neg => adjoints[a] -= w,
                Op::PowI(p) => adjoints[a] += w * p as f64 * values[a].powi(p - 1),
                Op::PowF(p) => adjoints[a] += w * p * values[a].powf(p - 1.0),
                Op::Call(f) => {
                    let xa = values[a];
                    let d = match f {
                        Function::Exp => v,
                        Function::Ln => 1.0 / xa,
                        Function::Sqrt => 0.5 / v,
                        Function::Abs => {
                            if xa < 0.0 {
                                -1.0
                            } else {
                                1.0
                            }
                        }
                        Function::Sin => xa.cos(),
                        Function::Cos => -xa.sin(),
                        Function::Tanh => 1.0 - v * v,
                        Function::Sigmoid => v * (1.0 - v),
                        Function::Softplus => apply(Function::Sigmoid, xa),
                    };
                    adjoints[a] += w * d;
                }
                Op::Add => {
                    adjoints[a] += w;
                    adjoints[b] += w;
                }
                Op::Sub => {
                    adjoints[a] += w;
                    adjoints[b] -= w;
                }
                Op::Mul => {
                    let (xa, xb) = (values[a], values[b]);
                    adjoints[a] += w * xb;
                    adjoints[b] += w * xa;
                }
                Op::Div => {
                    let xb = values[b];
                    adjoints[a] += w / xb;
                    adjoints[b] -= w * v / xb;
                }
                Op::Pow => {
                    let (xa, xb) = (values[a], values[b]);
                    adjoints[a] += w * xb * xa.powf(xb - 1.0);
                    if xa > 0.0 {
                        adjoints[b] += w * v * xa.ln();
                    }
                }
                Op::Min | Op::Max => {
                    let (xa, xb) = (values[a], values[b]);
                    let take_b = if matches!(ops[k], Op::Min) {
                        xb < xa
                    } else {
                        xb > xa
                    };
                    if take_b {
                        adjoints[b] += w;
                    } else {
                        adjoints[a] += w;
                    }
                }
            }
        }
        (values[n - 1], values.iter().all(|v| v.is_finite()))
    }

    /// Equal as numbers (`-0.0 == 0.0`), or both NaN.
    fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A random formula of the grammar: every function, min/max, integer, fractional and
    /// variable powers, constants, signs; subexpressions are sometimes repeated (shared nodes).
    fn random_formula(rng: &mut Rng, depth: usize, seen: &mut Vec<String>) -> String {
        if !seen.is_empty() && rng.below(8) == 0 {
            return seen[rng.below(seen.len() as u64) as usize].clone();
        }
        if depth == 0 || rng.below(5) == 0 {
            return match rng.below(9) {
                0..=4 => ["x", "y", "z"][rng.below(3) as usize].to_string(),
                5 => ["0.5", "2", "3.25", "0", "1"][rng.below(5) as usize].to_string(),
                6 => "pi".into(),
                7 => "e".into(),
                _ => format!("{}", rng.below(7)),
            };
        }
        let mut sub = |rng: &mut Rng| random_formula(rng, depth - 1, seen);
        let s = match rng.below(20) {
            0 => format!("({} + {})", sub(rng), sub(rng)),
            1 => format!("({} - {})", sub(rng), sub(rng)),
            2 | 3 => format!("({} * {})", sub(rng), sub(rng)),
            4 => format!("({} / {})", sub(rng), sub(rng)),
            5 => format!("-{}", sub(rng)),
            6 => {
                let p = ["2", "3", "-1", "0.5", "-2", "1", "0", "2.5"][rng.below(8) as usize];
                format!("({})^{p}", sub(rng))
            }
            7 => format!("({})^({})", sub(rng), sub(rng)),
            8 => format!("min({}, {})", sub(rng), sub(rng)),
            9 => format!("max({}, {})", sub(rng), sub(rng)),
            k => {
                let f = [
                    "exp", "ln", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "softplus",
                ][(k - 10) as usize];
                format!("{f}({})", sub(rng))
            }
        };
        seen.push(s.clone());
        s
    }

    fn vars(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Checks the tapes of `f` against `eval` and the interpreted sweep at `x`; returns whether
    /// the point was compared with the reference.
    fn check_point(f: &Formula, x: &[f64]) -> bool {
        let d = x.len();
        let src = f.source();
        let mut g_tape = vec![0.0; d];
        let mut g_only = vec![0.0; d];
        let mut g_ref = vec![0.0; d];
        let v_tape = f.value_and_gradient(x, &mut g_tape, &mut Scratch::default());
        f.gradient(x, &mut g_only);
        let v_eval = f.eval(x);
        assert!(
            v_tape.to_bits() == v_eval.to_bits() || (v_tape.is_nan() && v_eval.is_nan()),
            "{src} at {x:?}: tape value {v_tape} vs eval {v_eval}"
        );
        for i in 0..d {
            assert!(
                same(g_tape[i], g_only[i]),
                "{src} at {x:?}: gradient-only tape {g_only:?} vs value-and-gradient {g_tape:?}"
            );
        }
        let (_, finite) = reference(f.ops(), x, &mut g_ref);
        if !finite {
            return false;
        }
        for i in 0..d {
            assert!(
                same(g_tape[i], g_ref[i]),
                "{src} at {x:?}: tape gradient {g_tape:?} vs interpreted sweep {g_ref:?}"
            );
            // and the dual-number path, up to reassociation (it sums the chain rule's products
            // in another order)
            let dual: Vec<Dual64> = (0..d)
                .map(|j| Dual64::new(x[j], if i == j { 1.0 } else { 0.0 }))
                .collect();
            let exact = f.eval(&dual).eps;
            if exact.is_finite() && g_tape[i].is_finite() {
                assert!(
                    (g_tape[i] - exact).abs() <= 1e-9 * (1.0 + exact.abs()),
                    "{src} at {x:?}: tape ∂{i} {} vs dual {exact}",
                    g_tape[i]
                );
            }
        }
        true
    }

    #[test]
    fn random_formulas_match_eval_and_the_interpreted_sweep() {
        let v = vars(&["x", "y", "z"]);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut compared = 0;
        let mut formulas = 0;
        for _ in 0..400 {
            let mut seen = Vec::new();
            let src = random_formula(&mut rng, 4, &mut seen);
            let f = parse(&src, &v).unwrap_or_else(|e| panic!("{src}: {e}"));
            formulas += 1;
            for k in 0..16 {
                let x: Vec<f64> = match k {
                    0 => vec![0.0, 0.0, 0.0],
                    1 => vec![1.0, 1.0, -1.0],
                    _ => (0..3).map(|_| rng.uniform(-2.5, 2.5)).collect(),
                };
                if check_point(&f, &x) {
                    compared += 1;
                }
            }
        }
        // most points have finite intermediates: the comparison is not vacuous
        assert!(
            compared > formulas * 16 / 3,
            "{compared} of {}",
            formulas * 16
        );
    }

    #[test]
    fn builtin_problems_gradients_match_at_many_points() {
        let mut checked = 0;
        for b in crate::problem::BUILTINS {
            let config = crate::problem::builtin(b.name).unwrap();
            let (Some(names), Some(l1), Some(l0)) =
                (&config.vars, &config.majority, &config.minority)
            else {
                continue;
            };
            let domain = config
                .domain
                .as_ref()
                .expect("formula problems have a domain");
            for src in [l1.get_ref(), l0.get_ref()] {
                let f = parse(src, names).unwrap();
                let d = names.len();
                let mut rng = Rng(17 + checked as u64);
                for _ in 0..400 {
                    let x: Vec<f64> = (0..d)
                        .map(|i| rng.uniform(domain.lower[i], domain.upper[i]))
                        .collect();
                    assert!(check_point(&f, &x), "{}: {src} at {x:?}", b.name);
                }
                checked += 1;
            }
        }
        assert!(checked >= 6, "{checked} formulas");
    }

    fn count(tape: &Tape, name: &str) -> usize {
        tape.code
            .iter()
            .filter(|i| format!("{i:?}").starts_with(&format!("{name}(")))
            .count()
    }

    #[test]
    fn common_subexpressions_constants_and_dead_code() {
        let v = vars(&["x", "y"]);
        // cos(x) twice is one instruction; its derivative's sin(x) one more
        let f = parse("cos(x) * cos(x) + sin(x)", &v).unwrap();
        assert_eq!(count(f.tape(), "Cos"), 1, "{:?}", f.tape());
        assert_eq!(count(f.tape(), "Sin"), 1, "{:?}", f.tape());
        // constants fold: 2*3 + x is one addition and its gradient is constant
        let f = parse("2 * 3 + x", &v).unwrap();
        assert_eq!(f.tape().len(), 1, "{:?}", f.tape());
        assert!(f.gradient_tape().is_empty(), "{:?}", f.gradient_tape());
        // the flow's right-hand side never computes the cosines
        let f = parse("cos(x) + cos(y)", &v).unwrap();
        assert_eq!(count(f.gradient_tape(), "Cos"), 0);
        assert_eq!(count(f.gradient_tape(), "Sin"), 2);
        assert_eq!(f.gradient_tape().len(), 4, "{:?}", f.gradient_tape());
        let mut g = [0.0; 2];
        f.gradient(&[0.3, 0.4], &mut g);
        assert_eq!(g, [-(0.3f64.sin()), -(0.4f64.sin())]);
        // the quadratic pull: 0.002·2 folds, x^2 is a product
        let f = parse("0.002 * ((x - 1)^2 + (y - 2)^2)", &v).unwrap();
        assert_eq!(
            count(f.gradient_tape(), "PowI"),
            0,
            "{:?}",
            f.gradient_tape()
        );
        f.gradient(&[0.3, 0.4], &mut g);
        assert_eq!(g, [0.004 * (0.3 - 1.0), 0.004 * (0.4 - 2.0)]);
    }

    #[test]
    fn zero_adjoints_stay_zero_behind_infinite_derivatives() {
        let v = vars(&["x", "y"]);
        for (src, x, want) in [
            // max takes x; ln'(0) = inf behind a zero adjoint
            ("max(x, ln(y))", [1.0, 0.0], [1.0, 0.0]),
            ("min(x, sqrt(y))", [-1.0, 0.0], [1.0, 0.0]),
            ("x * sqrt(y)", [0.0, 0.0], [0.0, 0.0]),
            ("x^y", [0.0, 2.0], [0.0, 0.0]),
        ] {
            let f = parse(src, &v).unwrap();
            let mut g = [f64::NAN; 2];
            f.gradient(&x, &mut g);
            assert_eq!(g, want, "{src}");
            let mut r = [0.0; 2];
            reference(f.ops(), &x, &mut r);
            assert_eq!(g, r, "{src}");
        }
    }

    #[test]
    fn large_tapes_use_the_heap_registers() {
        let v = vars(&["x"]);
        let src = (0..60)
            .map(|k| format!("sin({k} * x)"))
            .collect::<Vec<_>>()
            .join(" + ");
        let f = parse(&src, &v).unwrap();
        assert!(!f.tape().fits_stack() && !f.gradient_tape().fits_stack());
        assert!(check_point(&f, &[0.7]));
    }
}
