"""SQL persistence through SQLModel: the tables of spec §6 and the stores that write them."""
