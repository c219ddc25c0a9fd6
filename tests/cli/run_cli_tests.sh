#!/bin/sh
# run_cli_tests.sh NABLA - run the nabla command on known inputs and check
# its stdout, stderr and exit status.  Prints each failed check and a
# summary line; exits 1 if any check failed.
#
# The checks and NABLA_WRAP (valgrind) are in harness.sh.

NABLA=${1:?usage: run_cli_tests.sh PATH/TO/nabla}
case $NABLA in /*) ;; *) NABLA=$PWD/$NABLA ;; esac
TMP=$(mktemp -d) || exit 1  # removed at the end (no trap: dash's trap leaks
                             # under valgrind)
mkdir "$TMP/empty"
. "$(dirname "$0")/harness.sh"
HAVE_DOT=$(command -v dot || true)

# err_line N TEXT: line N of stderr is exactly TEXT
err_line() {
    if [ "$(sed -n "${1}p" "$TMP/err")" = "$2" ]; then good; else bad "stderr line $1 is not '$2'"; fi
}
# json EXPR ARGS... -- EXPECTED: exact JSON output, nothing on stderr
json() {
    expr=$1
    shift
    args=
    while [ "$1" != "--" ]; do args="$args $1"; shift; done
    # shellcheck disable=SC2086 # NAME=VALUE words never hold spaces
    t "json $expr$args" 0 grad "$expr" $args --json
    out_is "$2"
    err_empty
}

# ---- help and usage ---------------------------------------------------------
t "--help" 0 --help
out_has "usage: nabla COMMAND"; out_has "grad EXPR"; out_has "lecture [NAME]"; err_empty
t "grad --help" 0 grad --help
for opt in --table --json --hessian "--dot FILE" "--png FILE" NAME=VALUE "exit status" \
           "exp log sigmoid tanh relu recip sqrt abs" "log1p expm1 softplus sin cos" "max min" \
           "leaky_relu(x, a)" "clamp(x, lo, hi)" "-x^2 = -(x^2)"; do
    out_has "$opt"
done
t "lecture --help" 0 lecture --help
out_has "usage: nabla lecture [NAME]"; out_has "--list"
t "--version" 0 --version
out_matches '^nabla [0-9]+\.[0-9]+\.[0-9]+$'
t "no arguments" 2
out_empty; err_has "usage: nabla COMMAND"
t "unknown command" 2 frobnicate
err_has "unknown command 'frobnicate'"

# ---- nabla grad: plain output and the table ----------------------------------
t "add-mul" 0 grad '(x+y)*z' x=-2 y=5 z=-4
out_is 'f = -12
df/dx = -4
df/dy = -4
df/dz = 3'
err_empty
t "add-mul table" 0 grad '(x+y)*z' x=-2 y=5 z=-4 --table
out_is 'gate  op        what     inputs  value  local grad  upstream  to inputs
   1  variable  x                -2                 -4
   2  variable  y                5                  -4
   3  add       x+y      x, y    3      1, 1        -4        -4, -4
   4  variable  z                -4                 3
   5  mul       (x+y)*z  #3, z   -12    -4, 3       1         -4, 3

f = -12
df/dx = -4
df/dy = -4
df/dz = 3'
t "neuron table" 0 grad '1/(1+exp(-(w0*x0+w1*x1+w2)))' w0=2 x0=-1 w1=-3 x1=-2 w2=-3 --table
out_matches '^ +12  exp +exp\(-\(w0\*x0\+w1\*x1\+w2\)\) +#11 +0\.367879 +0\.367879 +-0\.534447 +-0\.196612$'
out_matches '^ +14  reciprocal +1/\(1\+exp.* +#13 +0\.731059 +-0\.534447 +1 +-0\.534447$'
out_has "df/dw0 = -0.1966119332"; out_has "df/dx1 = -0.5898357997"
out_lacks '  mul         1/'
t "1/x is the reciprocal gate alone" 0 grad '1/x' x=2 --table
out_matches '^ +2  reciprocal +1/x +x +0\.5 +-0\.25 +1 +-0\.25$'
out_lacks 'constant'
t "2/x is a mul by the reciprocal" 0 grad '2/x' x=2 --table
out_matches '^ +4  mul +2/x +2, #3 +1 +-, 2 +1 +-, 2$'
t "leaky_relu gate: the slope is a constant input" 0 grad 'softplus(x)*leaky_relu(y, 0.2)' x=1 y=-2 --table
out_matches '^ +2  softplus +softplus\(x\) +x +1\.31326 +0\.731059 +-0\.4 +-0\.292423$'
out_matches '^ +5  leaky_relu +leaky_relu\(y, 0\.2\) +y, 0\.2 +-0\.4 +0\.2, - +1\.31326 +0\.262652, -$'
out_has "df/dy = 0.2626523375"
t "sub and div gates" 0 grad 'a/(b-c)' a=1 b=2 c=3 --table
out_matches '^ +4  neg +-c +c +-3 +-1 +-1 +1$'
out_matches '^ +6  reciprocal +1/\(b-c\) +#5 +-1 +-1 +1 +-1$'
t "x*x shows the input twice" 0 grad 'x*x' x=3 --table
out_matches '^ +2  mul +x\*x +x, x +9 +3, 3 +1 +3, 3$'
out_has "df/dx = 6"

# ---- nabla grad --json, and the grammar ----------------------------------------
json '(x+y)*z' x=-2 y=5 z=-4 -- '{"value": -12, "grad": {"x": -4, "y": -4, "z": 3}}'
json 'x' x=0.1 -- '{"value": 0.10000000000000001, "grad": {"x": 1}}'
json '2*3' -- '{"value": 6, "grad": {}}'
json '-x^2' x=3 -- '{"value": -9, "grad": {"x": -6}}'
json '2^3^2' -- '{"value": 512, "grad": {}}'
json '2^-1*x' x=3 -- '{"value": 1.5, "grad": {"x": 0.5}}'
json 'x^(1/2)' x=16 -- '{"value": 4, "grad": {"x": 0.125}}'
json 'x^0' x=5 -- '{"value": 1, "grad": {"x": 0}}'
json '1e-3*x + .5*y - 2.5E+1' x=2 y=4 -- '{"value": -22.998000000000001, "grad": {"x": 0.001, "y": 0.5}}'
json 'x-y-z' x=10 y=3 z=2 -- '{"value": 5, "grad": {"x": 1, "y": -1, "z": -1}}'
json 'x/y/z' x=12 y=3 z=2 -- '{"value": 2, "grad": {"x": 0.16666666666666666, "y": -0.66666666666666663, "z": -1}}'
json 'x - -y' x=1 y=2 -- '{"value": 3, "grad": {"x": 1, "y": 1}}'
json 'x*-1' x=4 -- '{"value": -4, "grad": {"x": -1}}'
json '-(x)' x=4 -- '{"value": -4, "grad": {"x": -1}}'
t "double minus after --" 0 grad --json -- '--x' x=4
out_is '{"value": 4, "grad": {"x": 1}}'
json 'b*a + a' a=1 b=2 -- '{"value": 3, "grad": {"b": 1, "a": 3}}'
json 'x+x' x=1 -- '{"value": 2, "grad": {"x": 2}}'
json ' ( x +	y ) ' x=1 y=2 -- '{"value": 3, "grad": {"x": 1, "y": 1}}'
json '_a1 * B_2' _a1=2 B_2=3 -- '{"value": 6, "grad": {"_a1": 3, "B_2": 2}}'
json 'exp(x)' x=0 -- '{"value": 1, "grad": {"x": 1}}'
json 'log(x)' x=1 -- '{"value": 0, "grad": {"x": 1}}'
json 'sigmoid(x)' x=0 -- '{"value": 0.5, "grad": {"x": 0.25}}'
json 'tanh(x)' x=0 -- '{"value": 0, "grad": {"x": 1}}'
json 'relu(x)' x=2 -- '{"value": 2, "grad": {"x": 1}}'
json 'relu(x)' x=-1 -- '{"value": 0, "grad": {"x": 0}}'
json 'relu(x)' x=0 -- '{"value": 0, "grad": {"x": 0}}'
json 'recip(x)' x=4 -- '{"value": 0.25, "grad": {"x": -0.0625}}'
json 'sqrt(x)' x=4 -- '{"value": 2, "grad": {"x": 0.25}}'
json 'sqrt(x)' x=2 -- '{"value": 1.4142135623730951, "grad": {"x": 0.35355339059327373}}'
# log1p and expm1 keep the digits log(1+x) and exp(x)-1 lose; softplus in
# its tails; expm1's gradient is e^x even where y + 1 is 0
json 'log1p(x)' x=1e-10 -- '{"value": 9.9999999995000007e-11, "grad": {"x": 0.99999999989999999}}'
json 'log(1+x)' x=1e-10 -- '{"value": 1.000000082690371e-10, "grad": {"x": 0.99999999989999999}}'
json 'expm1(x)' x=1e-10 -- '{"value": 1.00000000005e-10, "grad": {"x": 1.0000000001}}'
json 'expm1(x)' x=-50 -- '{"value": -1, "grad": {"x": 1.9287498479639178e-22}}'
json 'softplus(x)' x=0 -- '{"value": 0.69314718055994529, "grad": {"x": 0.5}}'
# sigmoid(-3) = 0.0474258731775667808788...: one ulp above, as nb_sigmoid gives
json 'softplus(x)' x=-3 -- '{"value": 0.048587351573742062, "grad": {"x": 0.047425873177566788}}'
json 'softplus(x)' x=1000 -- '{"value": 1000, "grad": {"x": 1}}'
json 'softplus(x)' x=-50 -- '{"value": 1.9287498479639178e-22, "grad": {"x": 1.9287498479639178e-22}}'
json 'sin(x)' x=0.5 -- '{"value": 0.47942553860420301, "grad": {"x": 0.87758256189037276}}'
json 'cos(x)' x=0.5 -- '{"value": 0.87758256189037276, "grad": {"x": -0.47942553860420301}}'
json 'sin(x)^2 + cos(x)^2' x=0.5 -- '{"value": 1, "grad": {"x": 0}}'
# leaky_relu: the slope a below 0 and at 0 itself (relu'(0) = 0 likewise)
json 'leaky_relu(x, 0.1)' x=-2 -- '{"value": -0.20000000000000001, "grad": {"x": 0.10000000000000001}}'
json 'leaky_relu(x, 0.1)' x=0 -- '{"value": 0, "grad": {"x": 0.10000000000000001}}'
json 'leaky_relu(x, 1/4)' x=3 -- '{"value": 3, "grad": {"x": 1}}'
json 'leaky_relu(x, -0.5)' x=-2 -- '{"value": 1, "grad": {"x": -0.5}}'
# clamp: 1 on [lo, hi], the bounds included
json 'clamp(x, -1, 2)' x=-3 -- '{"value": -1, "grad": {"x": 0}}'
json 'clamp(x, -1, 2)' x=-1 -- '{"value": -1, "grad": {"x": 1}}'
json 'clamp(x, -1, 2)' x=0.5 -- '{"value": 0.5, "grad": {"x": 1}}'
json 'clamp(x, -1, 2)' x=2 -- '{"value": 2, "grad": {"x": 1}}'
json 'clamp(x*y, 0, 2^2)' x=3 y=2 -- '{"value": 4, "grad": {"x": 0, "y": 0}}'
json 'clamp(x, 1, 1)' x=1 -- '{"value": 1, "grad": {"x": 1}}'
# second order through every new function's rule; the closed form:
# f_xx = sig'(x) sin y - log1p(y)/(4 x^1.5) + y^2 e^(xy) - cos x = 28.920047742667137
# f_xy = sig(x) cos y + 1/(2 sqrt(x) (1+y)) + (1+xy) e^(xy)     = 22.029607248631088
# f_yy = -softplus(x) sin y - sqrt(x)/(1+y)^2 + x^2 e^(xy) + 2   = 8.083799514610467
t "hessian of the elementary functions" 0 grad \
  'softplus(x)*sin(y) + sqrt(x)*log1p(y) + expm1(x*y) + cos(x) + leaky_relu(y, 0.3)^2' \
  x=1 y=2 --hessian --json
out_matches '"hessian": \[\[28\.9200477426671[0-9]*, 22\.0296072486310[0-9]*\], \[22\.0296072486310[0-9]*, 8\.08379951461046[0-9]*\]\]\}$'
err_empty
json 'abs(x)' x=-3 -- '{"value": 3, "grad": {"x": -1}}'
json 'abs(x)' x=0 -- '{"value": 0, "grad": {"x": 0}}'
json 'max(x, y)' x=1 y=2 -- '{"value": 2, "grad": {"x": 0, "y": 1}}'
json 'max(x, y)' x=1 y=1 -- '{"value": 1, "grad": {"x": 1, "y": 0}}'
json 'min(x, y)' x=1 y=2 -- '{"value": 1, "grad": {"x": 1, "y": 0}}'
json 'min(x, y)' x=1 y=1 -- '{"value": 1, "grad": {"x": 1, "y": 0}}'
json 'max(x*y, min(x, 3)) / 2' x=2 y=4 -- '{"value": 4, "grad": {"x": 2, "y": 1}}'
t "neuron json" 0 grad '1/(1+exp(-(w0*x0+w1*x1+w2)))' w0=2 x0=-1 w1=-3 x1=-2 w2=-3 --json
out_matches '^\{"value": 0\.731058578630004[0-9]*, "grad": \{"w0": -0\.196611933241481[0-9]*, "x0": 0\.393223866482963[0-9]*, "w1": -0\.393223866482963[0-9]*, "x1": -0\.589835799724445[0-9]*, "w2": 0\.196611933241481[0-9]*\}\}$'
err_empty
t "json after options" 0 grad --json -- '-x' x=2
out_is '{"value": -2, "grad": {"x": -1}}'
t "values before the expression" 0 grad x=3 y=2 'x*y' --json
out_is '{"value": 6, "grad": {"x": 2, "y": 3}}'
t "expression starting with -" 0 grad -x x=2
out_is 'f = -2
df/dx = -1'

# Long and deep: loops, not recursion, for long sums; a depth limit for nesting.
long=$(awk 'BEGIN { s = "x"; for (i = 1; i < 20000; i++) s = s "+x"; print s }')
t "sum of 20000 terms" 0 grad "$long" x=1 --json
out_is '{"value": 20000, "grad": {"x": 20000}}'
deep=$(awk 'BEGIN { for (i = 0; i < 150; i++) printf "("; printf "x"; for (i = 0; i < 150; i++) printf ")"; print "" }')
t "150 parentheses" 0 grad "$deep" x=7 --json
out_is '{"value": 7, "grad": {"x": 1}}'
deep=$(awk 'BEGIN { for (i = 0; i < 50000; i++) printf "("; print "x" }')
t "50000 parentheses" 2 grad "$deep" x=1
err_has "parse error at column 201: expression nested too deeply"; out_empty
deep=$(awk 'BEGIN { for (i = 0; i < 5000; i++) printf "-"; print "x" }')
t "5000 minus signs" 2 grad -- "$deep" x=1
err_has "nested too deeply"
deep=$(awk 'BEGIN { for (i = 0; i < 5000; i++) printf "exp("; print "x" }')
t "5000 nested calls" 2 grad "$deep" x=1
err_has "nested too deeply"
huge=$(awk 'BEGIN { s = "x"; for (i = 0; i < 50001; i++) s = s "+x"; print s }')
t "too long" 2 grad "$huge" x=1
err_has "expression too long (100003 bytes; the limit is 100000)"

# ---- nabla grad --hessian: second derivatives -------------------------------------
t "hessian add-mul" 0 grad '(x+y)*z' x=-2 y=5 z=-4 --hessian
out_is 'f = -12
df/dx = -4
df/dy = -4
df/dz = 3
d2f/(da db), a down, b across:
     x  y  z
  x  0  0  1
  y  0  0  1
  z  1  1  0'
err_empty
json 'x^3*y' x=2 y=3 --hessian -- '{"value": 24, "grad": {"x": 36, "y": 8}, "hessian": [[36, 12], [12, 0]]}'
json 'x' x=3 --hessian -- '{"value": 3, "grad": {"x": 1}, "hessian": [[0]]}'
json '2' --hessian -- '{"value": 2, "grad": {}, "hessian": []}'
t "hessian table" 0 grad 'x*x*y' x=3 y=2 --hessian --table
out_has 'second order: df/dx as a graph, gate by gate'
out_has 'd2f/(da db), a down, b across:'
t "hessian of sqrt at 0" 1 grad 'sqrt(x)*y' x=0 y=1 --hessian
err_has 'gradient not finite'

# ---- parse errors: column, caret, status 2 ---------------------------------------
t "unclosed (" 2 grad '(x+' x=1
out_empty
err_line 1 "nabla grad: parse error at column 4: expected a number, a name or '(', found the end of the expression"
err_line 2 "  (x+"
err_line 3 "     ^"
t "caret" 2 grad 'x * (y + 2' x=1 y=2
err_line 1 "nabla grad: parse error at column 11: expected ')' to close the '(' at column 5, found the end of the expression"
err_line 2 "  x * (y + 2"
err_line 3 "            ^"
t "variable exponent" 2 grad 'x^y' x=1 y=2
err_has "column 3: the exponent of ^ must be a constant"; err_has "exp(y*log(x))"
t "unknown function" 2 grad 'foo(x)' x=1
err_has "column 1: unknown function 'foo'"
t "function without (" 2 grad 'exp + 1'
err_has "expected '(' after the function exp"
t "max with one argument" 2 grad 'max(x)' x=1
err_has "max takes two arguments"
t "exp with two arguments" 2 grad 'exp(x, x)' x=1
err_has "exp takes one argument"
t "leaky_relu with a variable slope" 2 grad 'leaky_relu(x, a)' x=1 a=2
err_line 1 "nabla grad: parse error at column 15: the slope of leaky_relu must be constant (numbers only), as in leaky_relu(x, 0.01)"
err_line 3 "                ^"
t "clamp with a variable bound" 2 grad 'clamp(x, 0, y)' x=1 y=2
err_has "column 13: the bounds of clamp must be constant"
t "clamp with crossed bounds" 2 grad 'clamp(x, 2, 1)' x=1
err_has "column 10: the lower bound of clamp is above the upper bound"
t "clamp with two arguments" 2 grad 'clamp(x, 0)' x=1
err_has "clamp takes three arguments, as in clamp(x, 0, 1)"
t "leaky_relu with an infinite slope" 2 grad 'leaky_relu(x, 1/0)' x=1
err_has "the slope of leaky_relu is not a finite number"
t "** is not a power" 2 grad 'x**2 + 1' x=3
err_line 1 "nabla grad: parse error at column 2: there is no operator **: write a power with ^, as in x^2"
err_line 2 "  x**2 + 1"
err_line 3 "   ^"
out_empty
t "** with a space" 2 grad 'x * *2' x=3
err_has "column 3: there is no operator **"
t "missing operator" 2 grad '2x' x=1
err_has "column 2: expected an operator (+ - * / ^), found 'x'"
t "unmatched )" 2 grad 'x)' x=1
err_has "column 2: unmatched ')'"
t "empty" 2 grad ''
err_has "column 1: empty expression"
t "bad exponent" 2 grad '1e+' x=1
err_has "column 2: the exponent of a number needs digits"
t "huge number" 2 grad '1e999'
err_has "number out of range"
t "infinite exponent" 2 grad 'x^(1/0)' x=1
err_has "the exponent of ^ is not a finite number"
t "strange byte" 2 grad "$(printf 'x \001')" x=1
err_has "found byte 0x01"
# a character outside ASCII is named as itself (in UTF-8) and the caret sits
# under it, whatever its length in bytes; a byte that is not UTF-8 by number
t "UTF-8 character" 2 grad 'x·y' x=1 y=2
err_line 1 "nabla grad: parse error at column 2: expected an operator (+ - * / ^), found '·' (U+00B7)"
err_line 2 "  x·y"
err_line 3 "   ^"
t "UTF-8 name" 2 grad 'α+1' α=2
err_has "column 1: expected a number, a name or '(', found 'α' (U+03B1)"
err_line 2 "  α+1"
t "UTF-8 after a bracket" 2 grad 'exp(α)' x=1
err_has "column 5: expected a number, a name or '(', found 'α' (U+03B1)"
err_line 3 "      ^"
t "not UTF-8" 2 grad "$(printf 'x\377y')" x=1 y=2
err_has "column 2: expected an operator (+ - * / ^), found byte 0xff"
err_line 2 "  x?y"
t "unary plus is not in the grammar" 2 grad '+x' x=1
err_has "column 1: expected a number, a name or '(', found '+'"
t "long expression: caret in a window" 2 grad "$long+" x=1
err_has "parse error at column 40001"; err_has "  ...x+x+x"
err_line 3 "$(printf '%55s^' '')"

# ---- values on the command line: status 2 ----------------------------------------
t "missing value" 2 grad 'x*y' x=1
err_has "no value for y (give it as y=VALUE)"
t "unknown variable" 2 grad 'x*y' x=1 y=2 q=3
err_has "no variable 'q' in the expression; its variables: x, y"
t "repeated value" 2 grad 'x*y' x=1 y=2 x=3
err_has "x is given twice"
t "not a number" 2 grad 'x' x=abc
err_has "x=abc: the value must be a finite number"
t "infinite value" 2 grad 'x' x=1e999
err_has "the value must be a finite number"
t "empty value" 2 grad 'x' x=
err_has "the value must be a finite number"
# a value is a number as the expression writes one, and out of range both ways
t "value that underflows" 2 grad 'x' x=1e-400
err_has "x=1e-400: the value must be a finite number: number out of range (it underflows to 0)"
t "number that underflows" 2 grad '1e-400*x' x=1
err_has "column 1: number out of range (it underflows to 0): 1e-400"
t "subnormal value" 0 grad 'x' x=1e-310 --json
out_has '"value": 9.9999999999999694e-311'
t "zero written small" 0 grad 'x' x=0e-400 --json
out_has '"value": 0,'
t "hex value" 2 grad 'x' x=0x10
err_has "x=0x10: the value must be a finite number, written as in the expression"
t "value with a leading blank" 2 grad 'x' 'x= 3'
err_has "the value must be a finite number, written as in the expression"
t "value with a trailing blank" 2 grad 'x' 'x=3 '
err_has "the value must be a finite number, written as in the expression"
t "nan value" 2 grad 'x' x=nan
err_has "x=nan: the value must be a finite number"
t "signed values" 0 grad 'x*y' x=-2.5 y=+.5e1 --json
out_is '{"value": -12.5, "grad": {"x": 5, "y": -2.5}}'
long=$(printf '%0100000d' 0 | tr 0 a)
t "unknown option of 100 KB" 2 grad x x=1 "--$long"
err_has "unknown option --aaaaaaaaaa"
if [ "$(wc -c <"$TMP/err")" -lt 1000 ]; then good; else bad "the option is echoed whole"; fi
t "unknown option of 100 KB, train" 2 train mlp "--$long=1"
err_has "bytes left out"
if [ "$(wc -c <"$TMP/err")" -lt 1000 ]; then good; else bad "the option is echoed whole"; fi
t "unknown command of 100 KB" 2 "$long"
if [ "$(wc -c <"$TMP/err")" -lt 1000 ]; then good; else bad "the command is echoed whole"; fi
t "stray argument" 2 grad 'x' x=1 7
err_has "unexpected argument '7'"
t "no expression" 2 grad
err_has "missing EXPR"
t "unknown option" 2 grad x x=1 --frob
err_has "unknown option --frob"
t "--table with --json" 2 grad x x=1 --table --json
err_has "choose one"; out_empty
t "--dot without a file" 2 grad x x=1 --dot
err_has "--dot needs a FILE"

# ---- evaluation errors: status 1, the gate, a caret ---------------------------------
t "log of a negative number" 1 grad 'x + log(x - 5)' x=3
out_empty
err_line 1 "nabla grad: domain error at gate 5 (log): log of a negative number: log(-2) = nan"
err_line 2 "  x + log(x - 5)"
err_line 3 "      ^~~~~~~~~~"
t "log of zero" 1 grad 'log(x)' x=0
err_has "domain error at gate 2 (log): log of zero"
t "division by zero" 1 grad '1 + y/x' x=0 y=1 --json
out_empty
err_line 1 "nabla grad: domain error at gate 4 (reciprocal): division by zero: 1/0 = inf"
err_line 3 "        ^"
t "recip of zero" 1 grad 'recip(x)' x=0
err_has "division by zero"
t "sqrt of a negative number" 1 grad 'sqrt(x)' x=-4
err_has "square root of a negative number: sqrt(-4) = nan"
t "fractional power" 1 grad 'x^1.5' x=-4
err_has "negative number to a fractional power"
t "exp overflow" 1 grad 'exp(x)' x=1000
err_has "overflow: exp(1000) = inf"
t "overflow hidden by relu is still an error" 1 grad 'relu(-exp(x))' x=1000
err_has "domain error at gate 2 (exp)"
t "infinite gradient" 1 grad 'sqrt(x)' x=0 --json
out_empty; err_has "gradient not finite at gate 2 (sqrt)"
t "log1p below -1" 1 grad 'log1p(x)' x=-2
err_has "domain error at gate 2 (log1p): log1p of a number below -1: log1p(-2) = nan"
t "log1p of -1" 1 grad 'log1p(x)' x=-1
err_has "log of zero: log1p(-1) = -inf"
t "expm1 overflow" 1 grad 'expm1(x)' x=1000
err_has "overflow: expm1(1000) = inf"

# ---- pictures ------------------------------------------------------------------------
t "dot file" 0 grad '(x+y)*z' x=-2 y=5 z=-4 --dot "$TMP/g.dot"
out_has "f = -12"
if grep -q '^digraph nabla {' "$TMP/g.dot" && grep -q '#1a7f37' "$TMP/g.dot" &&
   grep -q '#cf222e' "$TMP/g.dot" && grep -q 'n3 -> n5' "$TMP/g.dot"; then good
else bad "$TMP/g.dot is not the expected DOT"; fi
t "dot with json" 0 grad '(x+y)*z' x=-2 y=5 z=-4 --json --dot="$TMP/j.dot"
out_is '{"value": -12, "grad": {"x": -4, "y": -4, "z": 3}}'
t "dot file cannot be written" 1 grad x x=1 --dot "$TMP/no/such/dir/g.dot"
err_has "cannot write $TMP/no/such/dir/g.dot"
out_has "f = 1"
if [ -n "$HAVE_DOT" ]; then
    if dot -Tsvg "$TMP/g.dot" >/dev/null 2>&1; then good; else bad "dot rejects g.dot"; fi
    t "png" 0 grad 'sigmoid(w*x + b)' w=2 x=-1 b=0.5 --png "$TMP/g.png"
    if [ "$(head -c 4 "$TMP/g.png" | od -An -c | tr -d ' ')" = '211PNG' ]; then good
    else bad "$TMP/g.png is not a PNG"; fi
    # a file name that looks like an option of dot's is still a file name
    (cd "$TMP" && rm -f ./-V.png ./-Tsvg &&
        $NABLA_WRAP "$NABLA" grad x x=1 --png -V.png >"$TMP/out" 2>"$TMP/err" &&
        $NABLA_WRAP "$NABLA" grad x x=1 --png=-Tsvg >>"$TMP/out" 2>>"$TMP/err")
    name="png named -V.png"
    if [ "$(head -c 4 "$TMP/-V.png" | od -An -c | tr -d ' ')" = '211PNG' ]; then good
    else bad "--png -V.png did not write ./-V.png"; fi
    name="png named -Tsvg"
    if [ "$(head -c 4 "$TMP/-Tsvg" | od -An -c | tr -d ' ')" = '211PNG' ]; then good
    else bad "--png=-Tsvg did not write ./-Tsvg"; fi
fi
# Without Graphviz on PATH (for nabla alone; an absolute valgrind still runs).
name="png without graphviz"
PATH=$TMP/empty $NABLA_WRAP "$NABLA" grad 'x*2' x=1 --png "$TMP/h.png" >"$TMP/out" 2>"$TMP/err"
got=$?
if [ "$got" -eq 1 ]; then good; else bad "exit status $got, wanted 1"; fi
err_has "Graphviz is not installed"; out_has "f = 2"

# ---- nabla lecture ------------------------------------------------------------------------
t "lecture" 0 lecture
for ex in add-mul neuron apple apple-orange chain gates two-layer; do
    out_matches "^$ex: ok, all [0-9]+ values agree with the slides$"
done
out_lacks "DIFFERS"
out_matches '^7 of 7 examples agree with the slides$'
out_has "check w1_10 after      0.3853418183   slide 0.3853         ok"
out_has "check dE/dw1_10        0.04886060572  slide 0.049          ok"
out_has "t2 = 0.7"
err_empty
t "lecture neuron" 0 lecture neuron
out_matches '^ +11  mul +\*-1 +#9, -1 +-1 +-1, - +-0\.196612 +0\.196612, -$'
out_has "sigmoid   f = sigmoid(s)"
out_lacks "== add-mul"
t "lecture --list" 0 lecture --list
for ex in add-mul neuron apple apple-orange chain gates two-layer; do out_has "$ex "; done
t "lecture with an unknown name" 2 lecture nosuch
err_has "no example 'nosuch'"; err_has "two-layer"

# ---- output that cannot be written ------------------------------------------------------
if [ -w /dev/full ]; then
    name="stdout to /dev/full"
    $NABLA_WRAP "$NABLA" grad x x=1 >/dev/full 2>"$TMP/err"
    got=$?
    : >"$TMP/out"
    if [ "$got" -eq 1 ]; then good; else bad "exit status $got, wanted 1"; fi
    err_has "writing the output"
fi

rm -rf "$TMP"
summary
