//! The formulas of the v2 query endpoints (`"formula": "a / b"`): a tiny arithmetic language
//! over the queries' names.
//!
//! Grammar: numbers (`2`, `0.5`, `1e3`), variables (`[A-Za-z_][A-Za-z0-9_]*`), binary
//! `+ - * /` with the usual precedence (left associative), unary minus and parentheses.
//! Evaluation is pointwise and null-propagating: a null operand, a division by zero or a
//! non-finite result gives null.

/// Deepest nesting of parentheses and unary minus accepted (keeps the recursion bounded).
const MAX_DEPTH: usize = 64;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The variables used, in order of first appearance, without duplicates.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_variables(&mut out);
        out
    }

    fn collect_variables<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Num(_) => {}
            Expr::Var(name) => {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
            Expr::Neg(e) => e.collect_variables(out),
            Expr::Bin(_, l, r) => {
                l.collect_variables(out);
                r.collect_variables(out);
            }
        }
    }

    /// The value with each variable's value from `var`; `None` (null) if any operand is
    /// null, on division by zero, or if the result is not finite.
    pub fn eval(&self, var: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        let v = match self {
            Expr::Num(n) => *n,
            Expr::Var(name) => var(name)?,
            Expr::Neg(e) => -e.eval(var)?,
            Expr::Bin(op, l, r) => {
                let (l, r) = (l.eval(var)?, r.eval(var)?);
                match op {
                    Op::Add => l + r,
                    Op::Sub => l - r,
                    Op::Mul => l * r,
                    Op::Div if r == 0.0 => return None,
                    Op::Div => l / r,
                }
            }
        };
        v.is_finite().then_some(v)
    }
}

/// Parses a formula; the error says what is wrong and where.
pub(super) fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        depth: 0,
    };
    if p.tokens.is_empty() {
        return Err("the formula is empty".to_string());
    }
    let expr = p.expr()?;
    match p.tokens.get(p.pos) {
        None => Ok(expr),
        Some(t) => Err(format!("unexpected '{}'", t.text())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Ident(String),
    Sym(char),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Num(n) => n.to_string(),
            Token::Ident(s) => s.clone(),
            Token::Sym(c) => c.to_string(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if matches!(c, '+' | '-' | '*' | '/' | '(' | ')') {
            tokens.push(Token::Sym(c));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent: `e`, an optional sign, digits.
            if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                let mut j = i + 1;
                if j < chars.len() && matches!(chars[j], '+' | '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let literal: String = chars[start..i].iter().collect();
            match literal.parse::<f64>() {
                Ok(n) if n.is_finite() => tokens.push(Token::Num(n)),
                _ => return Err(format!("invalid number '{literal}'")),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_sym(&self) -> Option<char> {
        match self.tokens.get(self.pos) {
            Some(Token::Sym(c)) => Some(*c),
            _ => None,
        }
    }

    /// `term (('+' | '-') term)*`
    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.term()?;
        while let Some(c @ ('+' | '-')) = self.peek_sym() {
            self.pos += 1;
            let op = if c == '+' { Op::Add } else { Op::Sub };
            left = Expr::Bin(op, Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    /// `unary (('*' | '/') unary)*`
    fn term(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(c @ ('*' | '/')) = self.peek_sym() {
            self.pos += 1;
            let op = if c == '*' { Op::Mul } else { Op::Div };
            left = Expr::Bin(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    /// `'-' unary | primary`
    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_sym() == Some('-') {
            self.pos += 1;
            let inner = self.nested(Self::unary)?;
            return Ok(Expr::Neg(Box::new(inner)));
        }
        self.primary()
    }

    /// `number | variable | '(' expr ')'`
    fn primary(&mut self) -> Result<Expr, String> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("the formula ends too early")?;
        self.pos += 1;
        match token {
            Token::Num(n) => Ok(Expr::Num(n)),
            Token::Ident(name) => Ok(Expr::Var(name)),
            Token::Sym('(') => {
                let inner = self.nested(Self::expr)?;
                if self.peek_sym() != Some(')') {
                    return Err("missing ')'".to_string());
                }
                self.pos += 1;
                Ok(inner)
            }
            Token::Sym(c) => Err(format!("unexpected '{c}'")),
        }
    }

    /// Runs `f` one nesting level deeper, refusing formulas nested too deeply.
    fn nested(&mut self, f: fn(&mut Self) -> Result<Expr, String>) -> Result<Expr, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("the formula is nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, a: Option<f64>, b: Option<f64>) -> Option<f64> {
        let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        expr.eval(&|name| match name {
            "a" => a,
            "b" => b,
            _ => None,
        })
    }

    #[test]
    fn precedence_associativity_and_unary_minus() {
        assert_eq!(eval("a + b * 2", Some(1.0), Some(3.0)), Some(7.0));
        assert_eq!(eval("(a + b) * 2", Some(1.0), Some(3.0)), Some(8.0));
        assert_eq!(eval("a - b - 1", Some(10.0), Some(3.0)), Some(6.0));
        assert_eq!(eval("a / b / 2", Some(12.0), Some(3.0)), Some(2.0));
        assert_eq!(eval("-a * -b", Some(2.0), Some(3.0)), Some(6.0));
        assert_eq!(eval("2 - -a", Some(2.0), None), Some(4.0));
        assert_eq!(eval("1e3 * .5 + a", Some(0.25), None), Some(500.25));
        assert_eq!(eval("7", None, None), Some(7.0));
    }

    #[test]
    fn nulls_and_division_by_zero() {
        assert_eq!(eval("a + b", Some(1.0), None), None);
        assert_eq!(eval("a / b", Some(1.0), Some(0.0)), None);
        assert_eq!(eval("a / (b - b)", Some(1.0), Some(4.0)), None);
        assert_eq!(eval("a * 0", None, None), None);
        assert_eq!(eval("a * 1e300 * 1e300", Some(1.0), None), None);
    }

    #[test]
    fn variables_in_order_without_duplicates() {
        let e = parse("query_2 / a + a * query_2 - b1").expect("parses");
        assert_eq!(e.variables(), ["query_2", "a", "b1"]);
        assert!(parse("2 * 3").expect("parses").variables().is_empty());
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "", "  ", "a +", "* a", "(a", "a)", "a b", "a $ b", "1.2.3", "()", "a ^ 2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err());
        let ok = format!("{}a{}", "(".repeat(10), ")".repeat(10));
        assert_eq!(parse(&ok), Ok(Expr::Var("a".into())));
        assert!(parse(&"-".repeat(1000)).is_err());
    }
}
