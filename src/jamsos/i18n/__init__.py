"""Indonesian (default) and English presentation of numbers, money and rates."""
