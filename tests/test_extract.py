from mathcodebench.solve import extract_code


def test_single_fenced_block():
    got = extract_code("Sure:\n```python\nprint(1 + 1)\n```\nThat prints 2.")
    assert got is not None and got.code == "print(1 + 1)\n" and got.method == "fence" and got.blocks == 1


def test_last_printing_block_wins_over_helper_and_output_blocks():
    response = "```python\ndef f(n):\n    return n * n\n```\n```python\nprint(f(3))\n```\n```output\n9\n```"
    got = extract_code(response)
    assert got is not None and got.code == "print(f(3))\n" and got.blocks == 2


def test_untagged_fence_counts_as_python_but_other_languages_do_not():
    assert extract_code("```\nprint(5)\n```").code == "print(5)\n"
    assert extract_code("```bash\necho 5\n```") is None


def test_block_cut_off_by_token_limit_is_still_extracted():
    got = extract_code("```python\nx = 2\nprint(x")
    assert got is not None and got.method == "fence-unclosed" and got.code == "x = 2\nprint(x\n"


def test_bare_program_without_fence():
    got = extract_code("import math\nprint(math.factorial(5))")
    assert got is not None and got.method == "bare"


def test_prose_is_not_code():
    assert extract_code("The answer is 42 because print is not needed.") is None
    assert extract_code("") is None


def test_without_print_the_last_block_is_taken():
    got = extract_code("```python\nx = 1\n```\n```python\ny = 2\n```")
    assert got is not None and got.code == "y = 2\n"
