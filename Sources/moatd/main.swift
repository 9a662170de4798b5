print("moatd")
